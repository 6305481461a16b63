-- Clean up expired documents; returns how many documents the collection holds afterwards.
-- KEYS: ids, entries, expiry, meta. ARGV: doc_prefix.
local ids, entries, expiry, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('ZCARD', expiry) > 0 then
  purge(ids, entries, expiry, meta, ARGV[1], now_ms())
end
return redis.call('ZCARD', ids)
