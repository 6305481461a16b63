-- Delete documents, each atomically with its index members and unique claims.
-- KEYS: ids, entries, expiry, meta, <one doc key per document>
-- ARGV: doc_prefix, then per document: id, expected (SHA1 hex of the value the caller read, or
--       '' to delete whatever is there).
-- Returns one status per document: 1 deleted, 0 no such document, -1 changed since it was read.
-- The leftovers of a document that has expired are cleaned up (status 0).
local ids, entries, expiry, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local out = {}
for d = 1, #KEYS - 4 do
  local doc_key = KEYS[4 + d]
  local id, expected = ARGV[2 * d], ARGV[2 * d + 1]
  local current = redis.call('GET', doc_key)
  if not current then
    if redis.call('ZSCORE', ids, id) then drop_document(ids, entries, expiry, meta, doc_key, id) end
    out[d] = 0
  elseif expected ~= '' and redis.sha1hex(current) ~= expected then
    out[d] = -1
  else
    drop_document(ids, entries, expiry, meta, doc_key, id)
    out[d] = 1
  end
end
return out
