-- Insert one document atomically with its index members and unique claims (the common case of
-- insert.lua, with the fewest commands: unique values are claimed with HSETNX directly).
-- KEYS: ids, entries, expiry, meta, <n_index index keys>, <n_unique unique keys>, doc key
-- ARGV: doc_prefix, n_index, n_unique, id, value, ttl_ms ('' for none), check_id ('0' when the
--       id was just generated, so it cannot be taken), then the entries (see read_entries).
-- Returns {} when stored, or {unique index number (0 = the id), field} on a conflict.
local ids, entries, expiry, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local doc_prefix = ARGV[1]
local n_index, n_unique = tonumber(ARGV[2]), tonumber(ARGV[3])
local id, value, ttl = ARGV[4], ARGV[5], ARGV[6]
local ikeys, ukeys = {}, {}
for i = 1, n_index do ikeys[i] = KEYS[4 + i] end
for u = 1, n_unique do ukeys[u] = KEYS[4 + n_index + u] end
local doc_key = KEYS[5 + n_index + n_unique]

if ARGV[7] ~= '0' and redis.call('ZSCORE', ids, id) then
  if redis.call('EXISTS', doc_key) == 1 then return {0, id} end
  -- An expired document with this id left its entries behind: clear them first.
  drop_document(ids, entries, expiry, meta, doc_key, id)
end
local _, members, complex, uniques = read_entries(8, n_index, n_unique)
local u, f = claim_uniques(ids, entries, expiry, meta, doc_prefix, ukeys, uniques, id)
if u then return {u, f} end
redis.call('SET', doc_key, value)
redis.call('ZADD', ids, redis.call('HINCRBY', meta, 'seq', 1), id)
if ttl ~= '' then set_expiry(expiry, doc_key, id, ttl, now_ms()) end
add_entries(entries, meta, ikeys, ukeys, members, complex, uniques, id, true)
return {}
