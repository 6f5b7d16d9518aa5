-- Every lease state change of the Redis store, each one atomic step (one EVALSHA).
-- ARGV[1] key prefix, ARGV[2] operation, ARGV[3] JSON arguments (with "s": the broker's settings).
-- Time is the store's own clock (key clock, ms): every call moves it to the calling broker's
-- estimate (adv: its anchor plus its monotonic time since), never back, so every broker agrees on
-- expiry and age and no step of any wall clock (Redis's or a broker's) moves a deadline. A new or
-- emptied Redis starts it at Redis's wall time, so store times read as dates. A test may pass
-- "now" to drive this store and the memory store with one clock.
-- Keys (P = prefix): seq, eseq, qseq counters; lease:<id> JSON (the fields of the Java side's Lease);
-- dev:<gpu> zset of lease ids;
-- exp zset id by expiry; tok:<token sha256> -> id; ended:<token sha256> -> "id:reason" (PX);
-- queue hash waiter id -> JSON; events list of JSON; init JSON (the state exists; recovering_until);
-- channel ch for pub/sub notifications.
-- The same rules as MemoryLeaseStore: a revoked lease (force_released, stale) keeps its capacity
-- until its holder releases (revoke_confirmed) or its expires_at passes (revoke_expired).
local P, op = ARGV[1], ARGV[2]
local a = cjson.decode(ARGV[3])
local S = a.s
local function wall_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local now = a.now
if not now then
  now = tonumber(redis.call('GET', P .. 'clock') or '0')
  if now == 0 then now = wall_ms() end
  if a.adv and a.adv > now then now = a.adv end
  redis.call('SET', P .. 'clock', now)
end
local events, wakes = {}, {}
local state_id = nil
-- Priorities are stored by name (what the API and the memory store's state file say); ranked here.
-- A rank stored as a number by an older broker still reads.
local RANK = {low = 0, normal = 1, high = 2}
local function prio_rank(p) if type(p) == 'number' then return p end return RANK[p] end
local reinit = false

local function lease_key(id) return P .. 'lease:' .. id end

-- Records carry the Java side's field names (the store's Lease and AcquireRequest, in snake_case;
-- times in ms on the store's clock). A record an older broker wrote in the short names of before
-- reads as the same record (it is written in the names of now the next time it changes).
local OLD_LEASE = {th = 'token_hash', vram = 'vram_mb', excl = 'exclusive', prio = 'priority',
  pidid = 'pid_identity', ttl = 'ttl_ms', granted = 'granted_at', expires = 'expires_at', rv = 'revoked',
  rvat = 'revoked_at', y = 'yieldable', yr = 'yield_requested_at'}
local OLD_REQUEST = {th = 'token_hash', vram = 'vram_mb', prio = 'priority', pidid = 'pid_identity',
  ttl = 'ttl_ms', wait = 'wait_ms', yield = 'yieldable'}
local function renamed(t, names)
  for old, new in pairs(names) do
    if t[old] ~= nil and t[new] == nil then t[new] = t[old] end
    t[old] = nil
  end
  return t
end

-- A waiter of the queue hash, its request in the names of now.
local function decode_waiter(s)
  local q = cjson.decode(s)
  q.req = renamed(q.req, OLD_REQUEST)
  return q
end

local function get_lease(id)
  local s = redis.call('GET', lease_key(id))
  if s then return renamed(cjson.decode(s), OLD_LEASE) end
  return nil
end

local function dev_leases(gpu)
  local r = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. 'dev:' .. gpu, 0, -1)) do
    local l = get_lease(id)
    if l then table.insert(r, l) end
  end
  return r
end

local function all_leases()
  local r = {}
  for _, g in ipairs(S.gpus) do
    for _, l in ipairs(dev_leases(g.index)) do table.insert(r, l) end
  end
  return r
end

-- Lease ids never go below what the calling broker has seen (in answers and in other brokers'
-- events), so a Redis that lost its data does not hand out an id twice.
if a.floor and tonumber(redis.call('GET', P .. 'seq') or '0') < a.floor then
  redis.call('SET', P .. 'seq', a.floor)
end

-- The init key says this Redis holds lease state for the prefix, and which state (its id). At a
-- broker's start a missing one is a first start: nothing was granted, grant at once. Missing, or
-- with another id than the calling broker saw, anywhere else means the state was lost under running
-- brokers (a Redis restarted without its data, FLUSHALL): a lease granted before may still be in
-- use, so grant nothing for the grace period (kept in the key, so it survives broker restarts), and
-- continue lease ids above the Unix time in seconds too.
local function ids_above_unix_time()
  local floor = math.floor(wall_ms() / 1000)
  if tonumber(redis.call('GET', P .. 'seq') or '0') < floor then redis.call('SET', P .. 'seq', floor) end
end

local function new_state(lost)
  local st = {id = a.origin .. ':' .. now, created = now, recovering_until = 0}
  if lost and S.recovery_grace_ms > 0 then st.recovering_until = now + S.recovery_grace_ms end
  if lost then ids_above_unix_time() end
  redis.call('SET', P .. 'init', cjson.encode(st))
  reinit = lost
  return st
end

local function init_state(starting)
  local s = redis.call('GET', P .. 'init')
  if s then
    local st = cjson.decode(s)
    if starting or a.init == nil or st.id == nil or st.id == a.init then return st end
    -- Made anew since this broker last looked (another broker found it gone, or a new broker took
    -- an emptied Redis for a first start): the state this broker knew is lost. The broker adopts
    -- this one (its id comes back in the answer); a grace starts unless one runs.
    if st.recovering_until <= now and S.recovery_grace_ms > 0 then
      st.recovering_until = now + S.recovery_grace_ms
      redis.call('SET', P .. 'init', cjson.encode(st))
    end
    ids_above_unix_time()
    reinit = true
    return st
  elseif starting then
    return new_state(false)
  end
  return new_state(true)
end

local function emit(etype, l, by, reason, immediate)
  local e = {seq = redis.call('INCR', P .. 'eseq'), time = now, type = etype, lease_id = l.id, gpu = l.gpu,
    owner = l.owner, purpose = l.purpose, by = by, reason = reason}
  if etype == 'force_released' or etype == 'stale' then
    e.immediate = immediate
    if immediate then e.handoff_at = now else e.handoff_at = l.expires_at end
  end
  redis.call('RPUSH', P .. 'events', cjson.encode(e))
  redis.call('LTRIM', P .. 'events', -S.events_max, -1)
  table.insert(events, e)
end

-- Frees the lease's capacity; renew/release answer with tomb_reason afterwards.
local function end_lease(l, etype, tomb_reason, by, detail, immediate)
  redis.call('DEL', lease_key(l.id), P .. 'tok:' .. l.token_hash)
  redis.call('ZREM', P .. 'dev:' .. l.gpu, l.id)
  redis.call('ZREM', P .. 'exp', l.id)
  redis.call('SET', P .. 'ended:' .. l.token_hash, l.id .. ':' .. tomb_reason, 'PX', S.tombstone_ttl_ms)
  emit(etype, l, by, detail, immediate)
  wakes[l.gpu] = true
end

-- The holder is told to stop; the capacity stays held until it confirms or expires_at passes.
local function revoke(l, reason, by, detail)
  l.revoked = reason
  l.revoked_at = now
  redis.call('SET', lease_key(l.id), cjson.encode(l))
  emit(reason, l, by, detail, false)
end

-- Ends a lease whose expires_at passed; returns the reason its holder is told.
local function end_expired(l)
  if l.revoked then
    end_lease(l, 'revoke_expired', l.revoked, 'broker', 'expires_at passed before the holder released')
    return l.revoked
  end
  end_lease(l, 'expired', 'expired', 'broker', 'not renewed within ttl_s=' .. (l.ttl_ms / 1000))
  return 'expired'
end

local function expire_due()
  local r = {}
  -- In expiry order, then by lease_id as a number (a zset breaks ties by the member's text).
  local due = redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'WITHSCORES')
  local ids = {}
  for i = 1, #due, 2 do table.insert(ids, {id = due[i], at = tonumber(due[i + 1])}) end
  table.sort(ids, function(x, y)
    if x.at ~= y.at then return x.at < y.at end
    return tonumber(x.id) < tonumber(y.id)
  end)
  for _, e in ipairs(ids) do
    local id = e.id
    local l = get_lease(id)
    if l then
      table.insert(r, l)
      end_expired(l)
    else
      redis.call('ZREM', P .. 'exp', id)
    end
  end
  return r
end

local function device(i)
  for _, g in ipairs(S.gpus) do if g.index == i then return g end end
  return nil
end

local function candidates(req)
  if req.gpu ~= nil then
    local d = device(req.gpu)
    if d then return {d} end
    return {}
  end
  local r = {}
  for _, g in ipairs(S.gpus) do
    if req.vram_mb == nil or g.vram_mb == 0 or g.vram_mb >= req.vram_mb then table.insert(r, g) end
  end
  return r
end

local function wants(req, gpu)
  if req.gpu ~= nil then return req.gpu == gpu end
  local d = device(gpu)
  return d ~= nil and (req.vram_mb == nil or d.vram_mb == 0 or d.vram_mb >= req.vram_mb)
end

local function exclusive(d, req) return req.vram_mb == nil or d.vram_mb == 0 end

-- Revoking leases still hold their capacity: their holders may not have stopped yet.
local function fits(d, req)
  local ls = dev_leases(d.index)
  if #ls == 0 then return true end
  if exclusive(d, req) then return false end
  local used = 0
  for _, l in ipairs(ls) do
    if l.exclusive then return false end
    used = used + l.vram_mb
  end
  return used + req.vram_mb <= d.vram_mb
end

local function queue_all()
  local r = {}
  local kv = redis.call('HGETALL', P .. 'queue')
  for i = 1, #kv, 2 do table.insert(r, decode_waiter(kv[i + 1])) end
  return r
end

-- Highest effective rank first (priority plus one level per aging interval waited), then FIFO.
local function rank(q)
  if S.priority_aging_ms > 0 then return prio_rank(q.req.priority) + math.floor((now - q.enq) / S.priority_aging_ms) end
  return prio_rank(q.req.priority)
end

local function before(x, y)
  local rx, ry = rank(x), rank(y)
  if rx ~= ry then return rx > ry end
  if x.enq ~= y.enq then return x.enq < y.enq end
  return x.seq < y.seq
end

-- Waiters whose wait ran out, or whose broker stopped heart-beating them (it died), leave the queue.
local function drop_abandoned(queue)
  local kept = {}
  for _, q in ipairs(queue) do
    if q.deadline <= now or q.hb <= now then
      redis.call('HDEL', P .. 'queue', q.id)
      for _, d in ipairs(candidates(q.req)) do wakes[d.index] = true end
    else
      table.insert(kept, q)
    end
  end
  return kept
end

-- A waiting request first in line that does not fit asks holders that offered to yield (priority no
-- higher than its own), or with preempt any holder of a lower priority, to give the GPU back.
local function ask_to_yield(d, req)
  if req.wait_ms <= 0 then return end
  for _, l in ipairs(dev_leases(d.index)) do
    local asked = (l.yieldable and prio_rank(req.priority) >= prio_rank(l.priority)) or (req.preempt and prio_rank(req.priority) > prio_rank(l.priority))
    if asked and not l.revoked and not l.yield_requested_at then
      l.yield_requested_at = now
      redis.call('SET', lease_key(l.id), cjson.encode(l))
      local why = 'gpu ' .. d.index .. ' is wanted by \'' .. req.owner .. '\' (priority ' .. ({[0] = 'low', 'normal', 'high'})[prio_rank(req.priority)]
      if req.preempt then why = why .. ', preempt' end
      emit('yield_requested', l, req.owner, why .. ')')
    end
  end
end

local function grant(d, req)
  local id = redis.call('INCR', P .. 'seq')
  local ex = exclusive(d, req)
  local l = {id = id, token_hash = req.token_hash, gpu = d.index, owner = req.owner, purpose = req.purpose,
    vram_mb = ex and d.vram_mb or req.vram_mb, exclusive = ex, priority = req.priority, pid = req.pid,
    pid_identity = req.pid_identity, host = req.host, granted_at = now, expires_at = now + req.ttl_ms,
    ttl_ms = req.ttl_ms, yieldable = req.yieldable}
  redis.call('SET', lease_key(id), cjson.encode(l))
  redis.call('ZADD', P .. 'dev:' .. d.index, id, id)
  redis.call('ZADD', P .. 'exp', l.expires_at, id)
  redis.call('SET', P .. 'tok:' .. req.token_hash, id)
  emit('granted', l, req.owner, nil)
  return l
end

local function lost_or_unknown(th)
  local tomb = redis.call('GET', P .. 'ended:' .. th)
  if tomb then
    local sep = string.find(tomb, ':')
    return {lost = {id = tonumber(string.sub(tomb, 1, sep - 1)), reason = string.sub(tomb, sep + 1)}}
  end
  return {unknown = true}
end

local function live_by_token(th)
  local id = redis.call('GET', P .. 'tok:' .. th)
  if id then return get_lease(id) end
  return nil
end

local function finish(result)
  local w = {}
  for gpu, _ in pairs(wakes) do table.insert(w, gpu) end
  result.now = now
  result.events = events
  result.wakes = w
  result.reinit = reinit
  result.init = state_id
  if #events > 0 or #w > 0 then
    redis.call('PUBLISH', P .. 'ch', cjson.encode({origin = a.origin, events = events, wakes = w}))
  end
  return cjson.encode(result)
end

if op == 'start' then
  local created = redis.call('EXISTS', P .. 'init') == 0
  local st = init_state(true)
  if a.fresh and st.recovering_until > now then
    st.recovering_until = 0
    redis.call('SET', P .. 'init', cjson.encode(st))
  end
  state_id = st.id
  return finish({recovering_until = st.recovering_until, created = created})
end

local state = init_state(false)
state_id = state.id
local recovering = now < state.recovering_until

if op == 'acquire' then
  local req, wid = a.req, a.waiter
  expire_due()
  local queue = drop_abandoned(queue_all())
  local me = nil
  if wid then
    for _, q in ipairs(queue) do if q.id == wid then me = q end end
  end
  local probe = me or {id = wid, req = req, enq = now, deadline = now + req.wait_ms, hb = now + a.hb, seq = 1e15}
  local best, granted = nil, nil
  for _, d in ipairs(candidates(req)) do
    local ahead = 0
    for _, q in ipairs(queue) do
      if q ~= me and wants(q.req, d.index) and before(q, probe) then ahead = ahead + 1 end
    end
    if best == nil or ahead + 1 < best then best = ahead + 1 end
    if ahead == 0 and not recovering then
      if not fits(d, req) then
        for _, l in ipairs(dev_leases(d.index)) do
          if not l.revoked and now - l.granted_at >= S.stale_max_age_ms then
            revoke(l, 'stale', 'broker', 'older than stale_max_age_s=' .. math.floor(S.stale_max_age_ms / 1000)
              .. ' while another request waited')
          end
        end
      end
      if fits(d, req) then
        granted = grant(d, req)
        if me then redis.call('HDEL', P .. 'queue', wid) end
        break
      end
      ask_to_yield(d, req)
    end
  end
  if granted then
    for _, q in ipairs(queue) do
      if q ~= me and wants(q.req, granted.gpu) then wakes[granted.gpu] = true end
    end
    return finish({granted = granted})
  end
  if wid and not me and req.wait_ms > 0 then
    probe.seq = redis.call('INCR', P .. 'qseq')
    redis.call('HSET', P .. 'queue', wid, cjson.encode(probe))
  end
  local holders, retry = {}, nil
  for _, d in ipairs(candidates(req)) do
    for _, l in ipairs(dev_leases(d.index)) do
      table.insert(holders, l)
      if retry == nil or l.expires_at < retry then retry = l.expires_at end
      local stale_at = l.granted_at + S.stale_max_age_ms
      if not l.revoked and stale_at > now and stale_at < retry then retry = stale_at end
    end
  end
  if recovering then retry = state.recovering_until end
  local retry_in = -1
  if retry then retry_in = math.max(1, retry - now) end
  local busy = {holders = holders, pos = best or 1, retry_in = retry_in}
  if recovering then busy.recovering_until = state.recovering_until end
  return finish({busy = busy})

elseif op == 'cancel' then
  local s = redis.call('HGET', P .. 'queue', a.waiter)
  if s then
    redis.call('HDEL', P .. 'queue', a.waiter)
    for _, d in ipairs(candidates(decode_waiter(s).req)) do wakes[d.index] = true end
  end
  return finish({})

elseif op == 'touch' then
  for _, wid in ipairs(a.waiters) do
    local s = redis.call('HGET', P .. 'queue', wid)
    if s then
      local q = decode_waiter(s)
      q.hb = now + a.hb
      redis.call('HSET', P .. 'queue', wid, cjson.encode(q))
    end
  end
  return finish({})

elseif op == 'renew' then
  local l = live_by_token(a.token_hash)
  if not l then return finish(lost_or_unknown(a.token_hash)) end
  if l.expires_at <= now then
    return finish({lost = {id = l.id, reason = end_expired(l)}})
  end
  if l.revoked then return finish({lost = {id = l.id, reason = l.revoked, revoking = true}}) end
  if a.ttl_ms then l.ttl_ms = a.ttl_ms end
  l.expires_at = now + l.ttl_ms
  redis.call('SET', lease_key(l.id), cjson.encode(l))
  redis.call('ZADD', P .. 'exp', l.expires_at, l.id)
  emit('renewed', l, a.by or l.owner, nil)
  return finish({lease = l})

elseif op == 'lookup' then
  local l = live_by_token(a.token_hash)
  if not l then return finish(lost_or_unknown(a.token_hash)) end
  -- Past its expiry, whether or not a reaper has been by: ended now, never shown as held.
  if l.expires_at <= now then return finish({lost = {id = l.id, reason = end_expired(l)}}) end
  return finish({lease = l})

elseif op == 'release' then
  local l = live_by_token(a.token_hash)
  if not l then
    local r = lost_or_unknown(a.token_hash)
    if r.lost then return finish({released = false, reason = r.lost.reason}) end
    return finish({unknown = true})
  end
  if l.expires_at <= now then
    return finish({released = false, reason = end_expired(l)})
  end
  if l.revoked then
    end_lease(l, 'revoke_confirmed', l.revoked, a.by or l.owner, 'the holder stopped and released')
    return finish({released = true, revoked = l.revoked})
  end
  end_lease(l, 'released', 'released', a.by or l.owner, a.reason)
  return finish({released = true})

elseif op == 'force' then
  expire_due()
  local selected = {}
  for _, l in ipairs(all_leases()) do
    if (a.lease_id == nil or l.id == a.lease_id) and (a.owner == nil or l.owner == a.owner)
        and (a.older_than_ms == nil or now - l.granted_at >= a.older_than_ms) then
      table.insert(selected, l)
    end
  end
  if a.lease_id ~= nil and #selected == 0 then return finish({unknown = true}) end
  if a.allowed_owners ~= nil then
    local allowed = {}
    for _, o in ipairs(a.allowed_owners) do allowed[o] = true end
    for _, l in ipairs(selected) do
      if not allowed[l.owner] then return finish({forbidden = true}) end
    end
  end
  for _, l in ipairs(selected) do
    if a.immediate then
      end_lease(l, 'force_released', 'force_released', a.by, a.reason, true)
      -- Answered as what it became: revoked, and handed on now.
      l.revoked = 'force_released'
      l.revoked_at = now
      l.expires_at = now
    elseif not l.revoked then
      revoke(l, 'force_released', a.by, a.reason)
    end
  end
  return finish({leases = selected})

elseif op == 'end' then
  local l = get_lease(a.lease_id)
  if l then end_lease(l, a.reason, a.reason, a.by, a.detail) end
  return finish({ended = l ~= nil})

elseif op == 'note' then
  emit(a.type, {id = 0, gpu = a.gpu, owner = a.subject, purpose = ''}, 'broker', a.detail)
  return finish({})

elseif op == 'expire' then
  local expired = expire_due()
  drop_abandoned(queue_all())
  return finish({leases = expired})

elseif op == 'snapshot' then
  local queue = queue_all()
  table.sort(queue, before)
  local waiting = {}
  for _, q in ipairs(queue) do
    if q.deadline > now and q.hb > now then table.insert(waiting, q) end
  end
  local r = {now = now, leases = all_leases(), waiting = waiting, reinit = reinit, init = state_id}
  if recovering then r.recovering_until = state.recovering_until end
  return cjson.encode(r)
end
return redis.error_reply('unknown operation ' .. tostring(op))
