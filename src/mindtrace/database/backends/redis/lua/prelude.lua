-- Shared by every write script (prepended to its body). All keys share the collection's hash tag.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remove every index member, unique claim and complex mark a document owns (listed in its
-- entries blob, so this works after the document itself has expired).
local function drop_entries(entries_key, meta_key, id)
  local blob = redis.call('HGET', entries_key, id)
  if not blob then return end
  local e = cmsgpack.unpack(blob)
  for i = 1, #e, 3 do
    local kind, key, value = e[i], e[i + 1], e[i + 2]
    if kind == 'i' then
      redis.call('ZREM', key, value)
    elseif kind == 'u' then
      if redis.call('HGET', key, value) == id then redis.call('HDEL', key, value) end
    elseif kind == 'c' then
      redis.call('HINCRBY', meta_key, key, -1)
    end
  end
  redis.call('HDEL', entries_key, id)
end

-- Remove one document and everything that points at it.
local function drop_document(ids_key, entries_key, expiry_key, meta_key, doc_key, id)
  drop_entries(entries_key, meta_key, id)
  redis.call('DEL', doc_key)
  redis.call('ZREM', ids_key, id)
  redis.call('ZREM', expiry_key, id)
end

-- Clean up every document whose expiry time has passed (their keys are gone or about to go).
local function purge(ids_key, entries_key, expiry_key, meta_key, doc_prefix, now)
  local expired = redis.call('ZRANGEBYSCORE', expiry_key, '-inf', now)
  for _, id in ipairs(expired) do
    drop_document(ids_key, entries_key, expiry_key, meta_key, doc_prefix .. id, id)
  end
  return #expired
end

-- Parse the index members, complex flags and unique fields of one document from ARGV[a...]:
-- for each index: count, members..., complex flag; then for each unique index: count, fields...
local function read_entries(a, n_index, n_unique)
  local members, complex, uniques = {}, {}, {}
  for i = 1, n_index do
    local c = tonumber(ARGV[a]); a = a + 1
    local list = {}
    for j = 1, c do list[j] = ARGV[a + j - 1] end
    a = a + c
    members[i] = list
    complex[i] = ARGV[a] == '1'; a = a + 1
  end
  for u = 1, n_unique do
    local c = tonumber(ARGV[a]); a = a + 1
    local list = {}
    for j = 1, c do list[j] = ARGV[a + j - 1] end
    a = a + c
    uniques[u] = list
  end
  return a, members, complex, uniques
end

-- The first unique claim another live document holds: returns unique index number and field,
-- or nil. Claims of documents that no longer exist (expired, not yet purged) are released.
local function find_conflict(ids_key, entries_key, expiry_key, meta_key, doc_prefix, ukeys, uniques, id)
  for u = 1, #uniques do
    for _, f in ipairs(uniques[u]) do
      local owner = redis.call('HGET', ukeys[u], f)
      if owner and owner ~= id then
        if redis.call('EXISTS', doc_prefix .. owner) == 1 then return u, f end
        drop_document(ids_key, entries_key, expiry_key, meta_key, doc_prefix .. owner, owner)
      end
    end
  end
  return nil
end

-- Claim a new document's unique values with HSETNX. Claims held by documents that no longer
-- exist (expired, not yet purged) are taken over. On a live conflict every claim made here is
-- undone and the unique index number and field are returned; nil when all claims succeeded.
local function claim_uniques(ids_key, entries_key, expiry_key, meta_key, doc_prefix, ukeys, uniques, id)
  local made = {}
  for u = 1, #uniques do
    for _, f in ipairs(uniques[u]) do
      if redis.call('HSETNX', ukeys[u], f, id) == 1 then
        made[#made + 1] = ukeys[u]; made[#made + 1] = f
      else
        local owner = redis.call('HGET', ukeys[u], f)
        if owner ~= id then
          if redis.call('EXISTS', doc_prefix .. owner) == 1 then
            for i = 1, #made, 2 do redis.call('HDEL', made[i], made[i + 1]) end
            return u, f
          end
          drop_document(ids_key, entries_key, expiry_key, meta_key, doc_prefix .. owner, owner)
          redis.call('HSET', ukeys[u], f, id)
          made[#made + 1] = ukeys[u]; made[#made + 1] = f
        end
      end
    end
  end
  return nil
end

-- Add a document's index members, unique claims (unless already claimed) and complex marks, and
-- record them all in its entries blob.
local function add_entries(entries_key, meta_key, ikeys, ukeys, members, complex, uniques, id, claimed)
  local blob = {}
  for i = 1, #ikeys do
    local list = members[i]
    if #list > 0 then
      local args = {}
      for j, m in ipairs(list) do
        args[2 * j - 1] = 0; args[2 * j] = m
        blob[#blob + 1] = 'i'; blob[#blob + 1] = ikeys[i]; blob[#blob + 1] = m
      end
      redis.call('ZADD', ikeys[i], unpack(args))
    end
    if complex[i] then
      redis.call('HINCRBY', meta_key, ikeys[i], 1)
      blob[#blob + 1] = 'c'; blob[#blob + 1] = ikeys[i]; blob[#blob + 1] = ''
    end
  end
  for u = 1, #ukeys do
    for _, f in ipairs(uniques[u]) do
      if not claimed then redis.call('HSET', ukeys[u], f, id) end
      blob[#blob + 1] = 'u'; blob[#blob + 1] = ukeys[u]; blob[#blob + 1] = f
    end
  end
  if #blob > 0 then redis.call('HSET', entries_key, id, cmsgpack.pack(blob)) end
end

-- Set (ttl_ms > 0), keep ('') or remove ('0') a document's expiry.
local function set_expiry(expiry_key, doc_key, id, ttl, now)
  if ttl == '' then return end
  local ms = tonumber(ttl)
  if ms > 0 then
    redis.call('PEXPIREAT', doc_key, now + ms)
    redis.call('ZADD', expiry_key, now + ms, id)
  else
    redis.call('PERSIST', doc_key)
    redis.call('ZREM', expiry_key, id)
  end
end
