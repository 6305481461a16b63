-- Read one batch of candidate documents from the id set or an index (read-only).
-- KEYS: source (the id set or an index sorted set), ids.
-- ARGV: doc_prefix, mode, min, max, count. Modes: 'seq' walks the id set by score (insertion
--       order); 'lex' / 'revlex' walk an index's members forwards / backwards between min and max;
--       'ids' reads the documents whose ids follow in ARGV[3...]; 'claims' reads the documents
--       owning the unique values in ARGV[3...] of the claims hash ``source``.
-- Returns {scanned, last, member1, seq1, value1, ...}: how many entries were read, the last
-- entry's cursor (score or member), then one triple per document that still exists.
local source, ids = KEYS[1], KEYS[2]
local doc_prefix, mode, min, max, count = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local out = {0, ''}
if mode == 'ids' or mode == 'claims' then
  out[1] = #ARGV - 2
  local owners = ARGV
  if mode == 'claims' then
    owners = {0, 0}
    for i = 3, #ARGV do owners[i] = redis.call('HGET', source, ARGV[i]) end
  end
  for i = 3, #ARGV do
    local id = owners[i]
    local seq = id and redis.call('ZSCORE', ids, id)
    if seq then
      local value = redis.call('GET', doc_prefix .. id)
      if value then
        out[#out + 1] = id; out[#out + 1] = seq; out[#out + 1] = value
      end
    end
  end
  return out
end
if mode == 'seq' then
  local rows = redis.call('ZRANGEBYSCORE', source, min, max, 'WITHSCORES', 'LIMIT', 0, count)
  out[1] = #rows / 2
  for i = 1, #rows, 2 do
    local id, seq = rows[i], rows[i + 1]
    out[2] = seq
    local value = redis.call('GET', doc_prefix .. id)
    if value then
      out[#out + 1] = id; out[#out + 1] = seq; out[#out + 1] = value
    end
  end
  return out
end
local rows
if mode == 'lex' then
  rows = redis.call('ZRANGEBYLEX', source, min, max, 'LIMIT', 0, count)
else
  rows = redis.call('ZREVRANGEBYLEX', source, max, min, 'LIMIT', 0, count)
end
out[1] = #rows
for _, member in ipairs(rows) do
  out[2] = member
  local id = string.sub(member, -24)
  local seq = redis.call('ZSCORE', ids, id)
  if seq then
    local value = redis.call('GET', doc_prefix .. id)
    if value then
      out[#out + 1] = member; out[#out + 1] = seq; out[#out + 1] = value
    end
  end
end
return out
