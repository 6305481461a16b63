-- Replace one document and its index members and unique claims in one atomic step.
-- KEYS: ids, entries, expiry, meta, <n_index index keys>, <n_unique unique keys>, doc key
-- ARGV: doc_prefix, n_index, n_unique, id, value, expected (SHA1 hex of the value the caller
--       read, or '' to replace whatever is there), ttl_ms ('' keeps the current expiry,
--       '0' removes it), then the new entries (see read_entries).
-- Returns {1} replaced, {0} no such document, {-1} the document changed since it was read,
-- {2, unique index number, field} a unique claim held by another document.
local ids, entries, expiry, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local doc_prefix = ARGV[1]
local n_index, n_unique = tonumber(ARGV[2]), tonumber(ARGV[3])
local id, value, expected, ttl = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local ikeys, ukeys = {}, {}
for i = 1, n_index do ikeys[i] = KEYS[4 + i] end
for u = 1, n_unique do ukeys[u] = KEYS[4 + n_index + u] end
local doc_key = KEYS[5 + n_index + n_unique]

local current = redis.call('GET', doc_key)
if not current then return {0} end
if expected ~= '' and redis.sha1hex(current) ~= expected then return {-1} end
local _, members, complex, uniques = read_entries(8, n_index, n_unique)
local u, f = find_conflict(ids, entries, expiry, meta, doc_prefix, ukeys, uniques, id)
if u then return {2, u, f} end
drop_entries(entries, meta, id)
redis.call('SET', doc_key, value, 'KEEPTTL')
if ttl ~= '' then set_expiry(expiry, doc_key, id, ttl, now_ms()) end
add_entries(entries, meta, ikeys, ukeys, members, complex, uniques, id, false)
return {1}
