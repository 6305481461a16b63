-- Insert documents, each atomically with its index members and unique claims.
-- KEYS: ids, entries, expiry, meta, <n_index index keys>, <n_unique unique keys>, <one doc key per document>
-- ARGV: doc_prefix, n_index, n_unique, ordered ('1': stop at the first conflict), then per
--       document: id, value, ttl_ms ('' for none), then its entries (see read_entries).
-- Returns a flat list of conflicts: position (1-based), unique index number (0 = the id), field.
-- With ordered, documents after the first conflict are reported with unique index number -1.
--
-- The whole batch runs as one script, so it is checked document by document first and then
-- written with one command per key (MSET, one ZADD per index...): nobody can observe the
-- difference, and it keeps bulk inserts close to a pipelined SET. Expired documents are not
-- purged here (reads do that); their leftovers are cleaned up only where they would get in the
-- way: a reused id or a unique value they still claim.
local ids, entries, expiry, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local doc_prefix = ARGV[1]
local n_index, n_unique, ordered = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local ikeys, ukeys = {}, {}
for i = 1, n_index do ikeys[i] = KEYS[4 + i] end
for u = 1, n_unique do ukeys[u] = KEYS[4 + n_index + u] end
local first_doc = 4 + n_index + n_unique
local n_docs = #KEYS - first_doc

-- 1. Parse every document.
local docs = {}
local a = 5
for d = 1, n_docs do
  local doc = {key = KEYS[first_doc + d], id = ARGV[a], value = ARGV[a + 1], ttl = ARGV[a + 2]}
  a, doc.members, doc.complex, doc.uniques = read_entries(a + 3, n_index, n_unique)
  docs[d] = doc
end

-- 2. Look up ids and current unique owners with one command per key.
local function batched(command, key, items)
  if #items <= 4000 then return redis.call(command, key, unpack(items)) end
  local out = {}
  for start = 1, #items, 4000 do
    local part = {}
    for i = start, math.min(start + 3999, #items) do part[#part + 1] = items[i] end
    local got = redis.call(command, key, unpack(part))
    for _, v in ipairs(got) do out[#out + 1] = v end
  end
  return out
end

local id_list = {}
for d = 1, n_docs do id_list[d] = docs[d].id end
local known
if n_docs > 0 then
  local ok, scores = pcall(batched, 'ZMSCORE', ids, id_list)
  if ok then
    known = scores
  else  -- Redis < 6.2
    known = {}
    for d = 1, n_docs do known[d] = redis.call('ZSCORE', ids, id_list[d]) end
  end
end
local owners = {}
for u = 1, n_unique do
  local fields = {}
  for d = 1, n_docs do
    for _, f in ipairs(docs[d].uniques[u]) do fields[#fields + 1] = f end
  end
  local values = #fields > 0 and batched('HMGET', ukeys[u], fields) or {}
  local map = {}
  for i, f in ipairs(fields) do map[f] = values[i] end
  owners[u] = map
end

-- 3. Decide document by document (claims of earlier documents in the batch count).
local failures = {}
local accepted = {}
local in_batch = {}
local stopped = false
for d = 1, n_docs do
  local doc = docs[d]
  local bad_u, bad_f = nil, nil
  if stopped then
    bad_u, bad_f = -1, ''
  else
    if known[d] then
      if redis.call('EXISTS', doc.key) == 1 then
        bad_u, bad_f = 0, doc.id
      else
        -- An expired document with this id left its entries behind: clear them first.
        drop_document(ids, entries, expiry, meta, doc.key, doc.id)
      end
    end
    if not bad_u then
      for u = 1, n_unique do
        for _, f in ipairs(doc.uniques[u]) do
          local owner = owners[u][f]
          if owner and owner ~= doc.id then
            if in_batch[owner] or redis.call('EXISTS', doc_prefix .. owner) == 1 then
              bad_u, bad_f = u, f
              break
            end
            drop_document(ids, entries, expiry, meta, doc_prefix .. owner, owner)
            owners[u][f] = false
          end
        end
        if bad_u then break end
      end
    end
  end
  if bad_u then
    failures[#failures + 1] = d; failures[#failures + 1] = bad_u; failures[#failures + 1] = bad_f
    stopped = stopped or ordered
  else
    for u = 1, n_unique do
      for _, f in ipairs(doc.uniques[u]) do owners[u][f] = doc.id end
    end
    accepted[#accepted + 1] = doc
    in_batch[doc.id] = true
  end
end
if #accepted == 0 then return failures end

-- 4. Write everything with one command per key.
local function flush(command, key, items)
  if #items <= 4000 then
    if key then return redis.call(command, key, unpack(items)) end
    return redis.call(command, unpack(items))
  end
  for start = 1, #items, 4000 do
    local part = {}
    for i = start, math.min(start + 3999, #items) do part[#part + 1] = items[i] end
    if key then redis.call(command, key, unpack(part)) else redis.call(command, unpack(part)) end
  end
end
local last_seq = redis.call('HINCRBY', meta, 'seq', #accepted)
local mset, zids, blobs, claims, members = {}, {}, {}, {}, {}
local complex_counts = {}
local now = nil
for u = 1, n_unique do claims[u] = {} end
for i = 1, n_index do members[i] = {} end
for n, doc in ipairs(accepted) do
  mset[#mset + 1] = doc.key; mset[#mset + 1] = doc.value
  zids[#zids + 1] = last_seq - #accepted + n; zids[#zids + 1] = doc.id
  local blob = {}
  for i = 1, n_index do
    local list = members[i]
    for _, m in ipairs(doc.members[i]) do
      list[#list + 1] = 0; list[#list + 1] = m
      blob[#blob + 1] = 'i'; blob[#blob + 1] = ikeys[i]; blob[#blob + 1] = m
    end
    if doc.complex[i] then
      complex_counts[i] = (complex_counts[i] or 0) + 1
      blob[#blob + 1] = 'c'; blob[#blob + 1] = ikeys[i]; blob[#blob + 1] = ''
    end
  end
  for u = 1, n_unique do
    for _, f in ipairs(doc.uniques[u]) do
      local list = claims[u]
      list[#list + 1] = f; list[#list + 1] = doc.id
      blob[#blob + 1] = 'u'; blob[#blob + 1] = ukeys[u]; blob[#blob + 1] = f
    end
  end
  if #blob > 0 then blobs[#blobs + 1] = doc.id; blobs[#blobs + 1] = cmsgpack.pack(blob) end
end
flush('MSET', nil, mset)
flush('ZADD', ids, zids)
for i = 1, n_index do
  if #members[i] > 0 then flush('ZADD', ikeys[i], members[i]) end
  if complex_counts[i] then redis.call('HINCRBY', meta, ikeys[i], complex_counts[i]) end
end
for u = 1, n_unique do
  if #claims[u] > 0 then flush('HSET', ukeys[u], claims[u]) end
end
if #blobs > 0 then flush('HSET', entries, blobs) end
for _, doc in ipairs(accepted) do
  if doc.ttl ~= '' then
    now = now or now_ms()
    set_expiry(expiry, doc.key, doc.id, doc.ttl, now)
  end
end
return failures
