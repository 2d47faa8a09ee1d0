#!lua name=vpoint
-- vpoint Functions library: every pack operation of the mirror in one atomic call (docs/design.md,
-- "Redis data model"). Loaded by vpoint::cache::Mirror::start() with FUNCTION LOAD REPLACE on every master.
--
-- Keys of one pack operation all carry the pack's partition tag {P}, so the call is single-slot in Cluster:
--   KEYS[1] pk:{P}:<gen>:<bucket>   hash, field = product index (3 chars) .. serial,
--                                   value = batch*32 + pending*16 + status (mirror format 2)
--   KEYS[2] dx:{P}:<code>:<serial>  hash, last decommission {a action, l location, u actor, t ms, x tx id}
--   KEYS[3] ob:{P}                  outbox stream (state changes for the central system)
--   KEYS[4] au:{P}                  audit stream (every operation, refusals included)
--   KEYS[5] dxm:{P}:<code>:<serial> string, location GLN of the last decommission: outlives dx (undo marker TTL)
--                                   so that a late undo learns "too late" (NMVS_NC_PCK_20), not "other location"
--   KEYS[6] us:{P}:<gen>             hash, field as KEYS[1]: raw text of a status the central system sent that
--                                   vpoint does not know (status 15)
--   KEYS[7] pn:{P}                  hash, field = code|serial: the pack's pending local transactions and what
--                                   the feed sent meanwhile (cjson {n outstanding, f floor seq, h held line})
--   KEYS[8] idem:{P}:<caller>:<key> optional idempotency record (first reply, TTL)
-- Product and batch keys are never read here: the caller compares batch, expiry and recall itself.

local VERSION = 9
local TEST_MODE = false -- replaced by the loader in test mode only: then ARGV clock offsets are honoured

-- PackStatus / Action numbers (cache/include/vpoint/cache/mirror.hpp; stored in Redis, never renumber).
local ACTIVE, DESTROYED, STOLEN, LOCKED, UNKNOWN_STATUS = 0, 2, 6, 7, 15
-- Pack value (format 2): batch index * 32 + pending * 16 + status.
local BATCH_FACTOR, PENDING = 32, 16

local function decode(v)
  local status = v % 16
  return math.floor(v / BATCH_FACTOR), status, (v % BATCH_FACTOR) >= PENDING
end
-- Outcome numbers (mirror.hpp).
local OK, UNKNOWN_PRODUCT, UNKNOWN_SERIAL, ALREADY_INACTIVE = 0, 1, 2, 3
local WINDOW_PASSED, OTHER_LOCATION, NOT_ALLOWED, STATUS_MISMATCH = 4, 5, 6, 7
local NO_RECORD, IDEM_CONFLICT, BATCH_MISMATCH = 8, 9, 10

local DAY_MS = 86400000

local function int(n)
  return string.format('%d', n)
end

local function now_ms(offset)
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if TEST_MODE then
    ms = ms + offset
  end
  return ms
end

-- The status rules of one change, before any record is consulted: a decommission only of an active pack; an
-- undo never of a destroyed or stolen pack (EU 2016/161 Art 13), and only of the status its action led to.
-- Returns outcome, new status (an undo that passes here still needs undo_by_record()).
local function change(op, action, prev)
  if op == 'd' then
    if prev ~= ACTIVE then
      return ALREADY_INACTIVE, prev
    end
    return OK, action
  end
  if action == DESTROYED or action == STOLEN or prev == DESTROYED or prev == STOLEN then
    return NOT_ALLOWED, prev
  end
  if prev ~= action then
    return STATUS_MISMATCH, prev
  end
  return OK, ACTIVE
end

-- An undo against the decommission it reverts (location and time of that decommission).
local function undo_by_record(rec_location, rec_time_ms, location, action, now, window_ms)
  -- Art 13(1)(a): only at the premises that decommissioned (unlock too).
  if rec_location ~= location then
    return OTHER_LOCATION
  end
  -- Art 13(1)(b): within 10 days (configurable); unlock has no window.
  if action ~= LOCKED and now - tonumber(rec_time_ms) > window_ms then
    return WINDOW_PASSED
  end
  return OK
end

-- Appends one entry (field, value, ...) to an audit stream, capped approximately at maxlen (nil or 0 = none).
local function audit_add(au, maxlen, fields)
  local call = { 'XADD', au }
  if maxlen and maxlen > 0 then
    table.insert(call, 'MAXLEN')
    table.insert(call, '~')
    table.insert(call, int(maxlen))
  end
  table.insert(call, '*')
  for _, x in ipairs(fields) do
    table.insert(call, x)
  end
  return redis.call(unpack(call))
end

-- The pending record of one pack (KEYS pn:{P}, field code|serial): n = this site's transactions the central
-- system has not answered yet; f = feed floor (the central seq our last answered transaction, or the look-up
-- after a rejection, is as of: feed lines at or below it are older than the local state); h = the newest feed
-- line that arrived while n > 0 {g generation, v value ('' = delete), r raw status, s seq}.
local function pending_of(pnk, pnf)
  local stored = redis.call('HGET', pnk, pnf)
  if stored then
    return cjson.decode(stored)
  end
  return { n = 0 }
end

-- Central's state of a pack laid into the mirror: value '' deletes it; raw is the text of a status vpoint does
-- not know ('' = known status).
local function apply_central(pk, us, field, value, raw)
  if value == '' then
    redis.call('HDEL', pk, field)
    redis.call('HDEL', us, field)
    return
  end
  redis.call('HSET', pk, field, value)
  if raw ~= '' then
    redis.call('HSET', us, field, raw)
  else
    redis.call('HDEL', us, field)
  end
end

-- ARGV: 1 op ('v' verify, 'd' decommission, 'u' undo), 2 field ('' = unknown product), 3 action (1..7),
-- 4 location, 5 actor, 6 transaction id, 7 undo window ms, 8 clock offset ms (test mode only),
-- 9 product code, 10 serial, 11 idempotency TTL s, 12 audit MAXLEN (0 = none), 13 expected batch index
-- ('' = any; decommission/undo change nothing when the pack's stored batch differs), 14 undo marker TTL ms,
-- 15 batch name and 16 expiry of the expected batch (carried by the outbox entry: a new generation may number
-- batches differently).
-- Reply (all strings): outcome, previous, status, batch index (-1 = none), last decommission: action (0 =
-- none), location, actor, time ms, tx id; transaction id, Redis time ms, replay (0/1), raw central status
-- ('' unless the status is 15).
-- readonly (vp_look, a verification while Redis is full): the same answer, but no audit entry and no
-- idempotency record are written (the caller reports the audit entry as lost).
local function pack_run(keys, args, readonly)
  local pk, dxk, ob, au, dxm, us, pnk, idem = keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8]
  local op, field, action = args[1], args[2], tonumber(args[3])
  local location, actor, txid = args[4], args[5], args[6]
  local window_ms, offset = tonumber(args[7]), tonumber(args[8])
  local code, serial = args[9], args[10]
  local idem_ttl, audit_maxlen = tonumber(args[11]), tonumber(args[12])
  local expected_batch = tonumber(args[13] or '')
  local marker_ttl = tonumber(args[14] or '') or 0
  local batch_name, batch_expiry = args[15] or '', args[16] or ''
  if op ~= 'v' and op ~= 'd' and op ~= 'u' then
    return redis.error_reply('ERR vpoint: unknown operation ' .. tostring(op))
  end
  if op ~= 'v' and (action == nil or action < 1 or action > 7) then
    return redis.error_reply('ERR vpoint: unknown action ' .. tostring(args[3]))
  end
  -- The request's fingerprint: an idempotency key reused for another request is a conflict, not a replay.
  local fp = op .. '|' .. code .. '|' .. serial .. '|' .. (op == 'v' and '0' or args[3])

  local now = now_ms(offset)
  if idem then
    local stored = redis.call('GET', idem)
    if stored then
      local rec = cjson.decode(stored)
      if rec.fp == fp then
        rec.r[12] = '1'
        return rec.r
      end
      return { int(IDEM_CONFLICT), '0', '0', '-1', '0', '', '', '0', '', rec.r[10], int(now), '0', '' }
    end
  end

  local outcome, prev, new, bidx = OK, ACTIVE, ACTIVE, -1
  local rec = nil
  local raw = false
  if field ~= '' then
    raw = redis.call('HGET', pk, field)
  end
  if field == '' then
    outcome = UNKNOWN_PRODUCT
  elseif not raw then
    outcome = UNKNOWN_SERIAL
  else
    bidx, prev = decode(tonumber(raw))
    new = prev
    local d = redis.call('HMGET', dxk, 'a', 'l', 'u', 't', 'x')
    if d[1] then
      rec = d
    end
    if op ~= 'v' and expected_batch and bidx ~= expected_batch then
      -- The serial belongs to another batch than the one scanned (NMVS_FE_LOT_13): change nothing.
      outcome = BATCH_MISMATCH
    elseif op ~= 'v' then
      outcome, new = change(op, action, prev)
      if op == 'u' and outcome == OK then
        if not rec or tonumber(rec[1]) ~= action then
          -- The record is gone: the marker (a decommission's location, kept longer) still tells "too late" at
          -- the same premises from "another location" (NMVS_NC_PCK_20 vs _21).
          local marked = (not rec) and action ~= LOCKED and redis.call('GET', dxm)
          if marked and marked == location then
            outcome = WINDOW_PASSED
          elseif marked then
            outcome = OTHER_LOCATION
          else
            outcome = NO_RECORD
          end
        else
          outcome = undo_by_record(rec[2], rec[4], location, action, now, window_ms)
        end
        if outcome ~= OK then
          new = prev
        end
      end
    end
  end

  if outcome == OK and new ~= prev then
    -- The pack is pending until the central system answers this change (vp_settle).
    redis.call('HSET', pk, field, int(bidx * BATCH_FACTOR + PENDING + new))
    if op == 'd' then
      redis.call('DEL', dxk)
      redis.call('HSET', dxk, 'a', int(action), 'l', location, 'u', actor, 't', int(now), 'x', txid)
      if action ~= LOCKED then
        -- Kept a day past the window: later undo attempts still learn "window passed".
        redis.call('PEXPIRE', dxk, int(window_ms + DAY_MS))
        if marker_ttl > 0 then
          redis.call('SET', dxm, location, 'PX', int(marker_ttl))
        end
      end
    else
      redis.call('DEL', dxk, dxm)
    end
    redis.call('XADD', ob, '*', 'tx', txid, 'code', code, 'serial', serial, 'op', op, 'action', int(action),
      'batch', int(bidx), 'bname', batch_name, 'bexp', batch_expiry, 'location', location, 'actor', actor,
      't', int(now))
    local pnf = code .. '|' .. serial
    local pend = pending_of(pnk, pnf)
    pend.n = (pend.n or 0) + 1
    redis.call('HSET', pnk, pnf, cjson.encode(pend))
  end
  if not readonly then
    audit_add(au, audit_maxlen, { 'tx', txid, 'code', code, 'serial', serial, 'op', op,
      'action', (op == 'v' and '0' or int(action)), 'outcome', int(outcome), 'prev', int(prev), 'status', int(new),
      'location', location, 'actor', actor, 't', int(now) })
  end

  local central_status = ''
  if prev == UNKNOWN_STATUS or new == UNKNOWN_STATUS then
    central_status = redis.call('HGET', us, field) or ''
  end
  local reply = { int(outcome), int(prev), int(new), int(bidx), '0', '', '', '0', '', txid, int(now), '0',
    central_status }
  if rec then
    reply[5], reply[6], reply[7], reply[8], reply[9] = rec[1], rec[2], rec[3], rec[4], rec[5] or ''
  end
  -- An unknown pack is no final answer: the central system may know it (read-through), so a retry with the
  -- same key must ask again instead of replaying "unknown" (issue 12).
  if idem and not readonly and outcome ~= UNKNOWN_PRODUCT and outcome ~= UNKNOWN_SERIAL then
    redis.call('SET', idem, cjson.encode({ fp = fp, r = reply }), 'EX', int(idem_ttl))
  end
  return reply
end

local function pack(keys, args)
  return pack_run(keys, args, false)
end

-- A verification that writes nothing (flag no-writes): Redis runs it at maxmemory, where vp_pack is refused.
local function look(keys, args)
  if args[1] ~= 'v' then
    return redis.error_reply('ERR vpoint: vp_look only verifies')
  end
  return pack_run(keys, args, true)
end

-- Offline scans (EU 2016/161 Art 29, issue 12): a pack the mirror does not know, scanned while the central
-- system cannot be asked. Its pending placeholder and the ordered stream of such scans share one hash tag, so
-- this is one atomic call in Cluster too (offline scans are rare: one slot holds them all).
--   KEYS[1] pend:{vpoint:offline}:<code>:<serial>  hash: s pending status (0 = only verified, else the action's
--           status), l location, u actor, t ms and x tx id of the pending decommission, y tx id of the last
--           change, k idempotency token of the last change
--   KEYS[2] offline:{vpoint:offline}               stream of the scans to replay, in scan order
-- ARGV: 1 op ('v', 'd', 'u'), 2 action (1..7; '0' for verify), 3 code, 4 serial, 5 batch, 6 expiry (as scanned),
-- 7 location, 8 actor, 9 transaction id, 10 idempotency token ('' = none), 11 undo window ms, 12 clock offset.
-- Reply (strings): outcome, pending status before, after, pending decommission's location, actor, time ms,
-- tx id; this operation's transaction id, Redis time ms, replay (0/1).
local function offline(keys, args)
  local pend, stream = keys[1], keys[2]
  local op, action = args[1], tonumber(args[2])
  local code, serial, batch, expiry = args[3], args[4], args[5], args[6]
  local location, actor, txid, token = args[7], args[8], args[9], args[10]
  local window_ms, offset = tonumber(args[11]), tonumber(args[12])
  if op ~= 'v' and op ~= 'd' and op ~= 'u' then
    return redis.error_reply('ERR vpoint: unknown operation ' .. tostring(op))
  end
  if op ~= 'v' and (action == nil or action < 1 or action > 7) then
    return redis.error_reply('ERR vpoint: unknown action ' .. tostring(args[2]))
  end
  local now = now_ms(offset)
  local h = redis.call('HMGET', pend, 's', 'l', 'u', 't', 'x', 'y', 'k')
  local exists = h[1] and true or false
  local prev = exists and tonumber(h[1]) or ACTIVE
  local function reply(outcome, new, tx, replay)
    return { int(outcome), int(prev), int(new), h[2] or '', h[3] or '', h[4] or '0', h[5] or '', tx, int(now),
      replay and '1' or '0' }
  end
  if op ~= 'v' and token ~= '' and exists and h[7] == token then
    return reply(OK, prev, h[6] or txid, true)
  end
  local outcome, new = OK, prev
  if op ~= 'v' then
    outcome, new = change(op, action, prev)
    if op == 'u' and outcome == OK then
      outcome = undo_by_record(h[2], h[4], location, action, now, window_ms)
      if outcome ~= OK then
        new = prev
      end
    end
  end
  if outcome ~= OK or (op == 'v' and exists) then
    -- Nothing new to replay: a refused change, or a verify of a pack whose first scan is queued already.
    return reply(outcome, new, txid, false)
  end
  local fields = { 's', int(new), 'y', txid, 'k', token }
  if op == 'd' then
    for _, x in ipairs({ 'l', location, 'u', actor, 't', int(now), 'x', txid }) do
      table.insert(fields, x)
    end
  end
  redis.call('HSET', pend, unpack(fields))
  redis.call('XADD', stream, '*', 'op', op, 'action', op == 'v' and '0' or int(action), 'code', code,
    'serial', serial, 'batch', batch, 'expiry', expiry, 'location', location, 'actor', actor, 'tx', txid,
    't', int(now))
  return reply(OK, new, txid, false)
end

-- One replayed offline scan is settled: its stream entry goes; the placeholder goes with the pack's last
-- offline change (later scans of the same pack keep it until they are replayed too).
-- KEYS as offline(); ARGV: 1 stream entry id, 2 its transaction id.
local function offline_settle(keys, args)
  local pend, stream = keys[1], keys[2]
  redis.call('XDEL', stream, args[1])
  if redis.call('HGET', pend, 'y') == args[2] then
    redis.call('DEL', pend)
    return 1
  end
  return 0
end

-- Leases (cache/include/vpoint/cache/lease.hpp): one holder at a time across vpointd instances, by owner id,
-- gone after the TTL unless renewed. KEYS[1] vpoint:lease:<name>; ARGV 1 owner, 2 'hold' or 'release',
-- 3 TTL ms (hold). hold renews the lease of this owner or takes a free one (1 = held now, 0 = another owner
-- holds it); release deletes it only when this owner holds it.
local function lease(keys, args)
  local key, owner, op = keys[1], args[1], args[2]
  local current = redis.call('GET', key)
  if op == 'release' then
    if current == owner then
      redis.call('DEL', key)
      return 1
    end
    return 0
  end
  local ttl = tonumber(args[3] or '')
  if op ~= 'hold' or not ttl or ttl <= 0 or owner == '' then
    return redis.error_reply('ERR vpoint: lease needs owner, hold|release and a positive TTL')
  end
  if current == owner then
    redis.call('PEXPIRE', key, int(ttl))
    return 1
  end
  if current then
    return 0
  end
  redis.call('SET', key, owner, 'PX', int(ttl))
  return 1
end

-- Alerts (cache/include/vpoint/cache/alert_log.hpp): one alert per (reason, transaction), raised atomically so
-- that two instances (or a retry racing its original) never raise twins. KEYS[1] alerts (the stream), KEYS[2]
-- alerts:once:{alerts}:<reason>:<tx> (absent for an alert without a transaction; same slot as the stream).
-- ARGV 1 reason, 2 transaction id, 3 the alert's JSON, 4 TTL s of the once key. Reply: the alert's id.
local function alert(keys, args)
  local stream, once = keys[1], keys[2]
  if once then
    local known = redis.call('GET', once)
    if known then
      return known
    end
  end
  local id = redis.call('XADD', stream, '*', 'reason', args[1], 'tx', args[2], 'json', args[3])
  if once then
    redis.call('SET', once, id, 'EX', args[4])
  end
  return id
end

-- A returns-desk decision about one pack (cache::Mirror::record_decision, POST /v1/returns/decision): one entry in
-- the pack's audit stream, op 'rd', once per caller + idempotency key. KEYS[1] au:{P}, KEYS[2]
-- idem:{P}:<caller>:<key> (optional). ARGV 1 audit MAXLEN (0 = none), 2 idempotency TTL s, 3 decision, then
-- field, value, ... of the entry. Reply: { entry id, replay '0'|'1', the recorded decision }.
local function decision(keys, args)
  local au, idem = keys[1], keys[2]
  if idem then
    local stored = redis.call('GET', idem)
    if stored then
      local rec = cjson.decode(stored)
      return { rec.id, '1', rec.d }
    end
  end
  local fields = { 'op', 'rd', 'decision', args[3] }
  for i = 4, #args do
    table.insert(fields, args[i])
  end
  table.insert(fields, 't')
  table.insert(fields, int(now_ms(0)))
  local id = audit_add(au, tonumber(args[1]), fields)
  if idem then
    redis.call('SET', idem, cjson.encode({ id = id, d = args[3] }), 'EX', args[2])
  end
  return { id, '0', args[3] }
end

-- A feed line or a read-through result for one pack (the merge rule, docs/design.md "Truth model"): applied when
-- the pack has no pending local transaction and the line is newer than the pack's floor; held (the newest one)
-- while a local transaction is pending, and applied by vp_settle once central has answered.
-- KEYS[1] pk:{P}:<gen>:<bucket>, KEYS[2] us:{P}:<gen>, KEYS[3] pn:{P}.
-- ARGV 1 field, 2 code|serial, 3 value ('' = delete), 4 raw status ('' = known), 5 seq (0 = not from the feed),
-- 6 generation. Reply: 'applied', 'held' or 'stale'.
local function feed(keys, args)
  local pk, us, pnk = keys[1], keys[2], keys[3]
  local field, pnf, value, raw = args[1], args[2], args[3], args[4]
  local seq, gen = tonumber(args[5]) or 0, tonumber(args[6]) or 0
  local stored = redis.call('HGET', pnk, pnf)
  if stored then
    local p = cjson.decode(stored)
    if (p.n or 0) > 0 then
      if not p.h or p.h.g ~= gen or seq >= p.h.s then
        p.h = { g = gen, v = value, r = raw, s = seq }
        redis.call('HSET', pnk, pnf, cjson.encode(p))
      end
      return 'held'
    end
    if p.f and seq < p.f then
      return 'stale'
    end
    -- The feed reached the floor: the record is no longer needed.
    redis.call('HDEL', pnk, pnf)
  end
  apply_central(pk, us, field, value, raw)
  return 'applied'
end

-- The central system answered one outbox entry. Exactly once per entry (the XDEL decides): the pack's pending
-- count goes down; a rejection makes the local state central's (look-up), drops our decommission record (no
-- undo of what did not happen) and writes an audit entry naming both transactions; once nothing is pending,
-- the pending mark goes and a feed line held meanwhile is applied if it is newer than our answered change.
-- KEYS[1] ob:{P}, KEYS[2] pn:{P}, KEYS[3] pk:{P}:<gen>:<bucket>, KEYS[4] us:{P}:<gen>, KEYS[5] au:{P},
-- KEYS[6] dx:{P}:<code>:<serial>, KEYS[7] dxm:{P}:<code>:<serial>.
-- ARGV 1 outbox entry id, 2 tx id, 3 code, 4 serial, 5 field ('' = product not in this generation), 6 'a'
-- accepted | 'r' rejected, 7 central seq of the answer ('' = unknown), 8 central status number ('' = not known:
-- local state kept; 'x' = central does not know the pack), 9 raw status text (status 15), 10 central batch
-- index ('' = the stored one), 11 the other transaction (rejection), 12 central's code, 13 generation, 14 feed
-- position of the generation, 15 audit MAXLEN, 16 location, 17 actor, 18 clock offset.
-- Reply: { settled (0/1), status after ('' = no pack), pending left }.
local function settle(keys, args)
  local ob, pnk, pk, us, au, dxk, dxm = keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7]
  local id, txid, code, serial, field, result = args[1], args[2], args[3], args[4], args[5], args[6]
  local cseq, cstatus, craw, cbatch = tonumber(args[7] or ''), args[8] or '', args[9] or '', tonumber(args[10] or '')
  local other, ccode, gen, position = args[11] or '', args[12] or '', tonumber(args[13]) or 0, tonumber(args[14]) or 0
  local audit_maxlen = tonumber(args[15] or '') or 0
  if redis.call('XDEL', ob, id) == 0 then
    return { '0', '', '0' }
  end
  local pnf = code .. '|' .. serial
  local p = pending_of(pnk, pnf)
  p.n = math.max(0, (p.n or 0) - 1)
  if cseq and (not p.f or cseq > p.f) then
    p.f = cseq
  end
  local cur = false
  if field ~= '' then
    cur = redis.call('HGET', pk, field)
  end
  local bidx, prev = -1, -1
  if cur then
    bidx, prev = decode(tonumber(cur))
  end
  local status = prev
  if result == 'r' then
    if field ~= '' and cstatus == 'x' then
      apply_central(pk, us, field, '', '')
      cur, status = false, -1
    elseif field ~= '' and cstatus ~= '' then
      local b = cbatch or bidx
      if b >= 0 then
        status = tonumber(cstatus)
        apply_central(pk, us, field, int(b * BATCH_FACTOR + status), craw)
        cur = int(b * BATCH_FACTOR + status)
        bidx = b
      end
    end
    if redis.call('HGET', dxk, 'x') == txid then
      redis.call('DEL', dxk, dxm)
    end
    audit_add(au, audit_maxlen, { 'tx', txid, 'code', code, 'serial', serial, 'op', 'r', 'action', '0', 'outcome', 'r',
      'prev', int(prev), 'status', int(status), 'location', args[16] or '', 'actor', args[17] or '',
      't', int(now_ms(tonumber(args[18] or '') or 0)), 'other', other, 'central', ccode })
  end
  if p.n > 0 then
    if cur then
      local b, s = decode(tonumber(cur))
      redis.call('HSET', pk, field, int(b * BATCH_FACTOR + PENDING + s))
    end
    redis.call('HSET', pnk, pnf, cjson.encode(p))
    return { '1', cur and int(status) or '', int(p.n) }
  end
  if cur then
    local b, s, pending = decode(tonumber(cur))
    if pending then
      redis.call('HSET', pk, field, int(b * BATCH_FACTOR + s))
    end
  end
  if field ~= '' and p.h and p.h.g == gen and (not p.f or p.h.s > p.f) then
    apply_central(pk, us, field, p.h.v, p.h.r)
    p.f = p.h.s
    if p.h.v == '' then
      status = -1
    else
      local _, s = decode(tonumber(p.h.v))
      status = s
    end
  end
  if p.f and p.f > position then
    redis.call('HSET', pnk, pnf, cjson.encode({ n = 0, f = p.f }))
  else
    redis.call('HDEL', pnk, pnf)
  end
  return { '1', status >= 0 and int(status) or '', '0' }
end

-- A new generation gets this site's pending changes laid on top at the switch (snapshot row of the merge rule):
-- every outbox entry up to `upto` still in the stream, in stream order (the last per pack wins), except packs
-- with a newer entry (written by an operation that saw the new generation itself).
-- KEYS[1] ob:{P}, KEYS[2..] pk:{P}:<gen>:<bucket> of the new generation.
-- ARGV 1 upto (stream id), then per entry 5 values: entry id, key number (2..), field, code|serial, value
-- (batch*32+pending+status; a batch of -1 = keep the stored pack's batch, skipped when there is none).
-- Reply: how many entries were laid.
local function overlay(keys, args)
  local ob, upto = keys[1], args[1]
  local live, newer = {}, {}
  for _, e in ipairs(redis.call('XRANGE', ob, '-', upto)) do
    live[e[1]] = true
  end
  for _, e in ipairs(redis.call('XRANGE', ob, '(' .. upto, '+')) do
    local f = e[2]
    local c, s = '', ''
    for i = 1, #f, 2 do
      if f[i] == 'code' then
        c = f[i + 1]
      elseif f[i] == 'serial' then
        s = f[i + 1]
      end
    end
    newer[c .. '|' .. s] = true
  end
  local laid = 0
  for i = 2, #args, 5 do
    local key, field, pnf, value = keys[tonumber(args[i + 1])], args[i + 2], args[i + 3], tonumber(args[i + 4])
    if live[args[i]] and not newer[pnf] and key then
      if value < 0 then
        local stored = redis.call('HGET', key, field)
        if stored then
          local b = decode(tonumber(stored))
          value = b * BATCH_FACTOR + (value + BATCH_FACTOR)
        end
      end
      if value >= 0 then
        redis.call('HSET', key, field, int(value))
        laid = laid + 1
      end
    end
  end
  return laid
end

local function version()
  return { VERSION, TEST_MODE and 1 or 0 }
end

redis.register_function('vp_pack', pack)
redis.register_function { function_name = 'vp_look', callback = look, flags = { 'no-writes' } }
redis.register_function('vp_offline', offline)
redis.register_function('vp_offline_settle', offline_settle)
redis.register_function('vp_lease', lease)
redis.register_function('vp_alert', alert)
redis.register_function('vp_decision', decision)
redis.register_function('vp_feed', feed)
redis.register_function('vp_settle', settle)
redis.register_function('vp_overlay', overlay)
redis.register_function { function_name = 'vp_version', callback = version, flags = { 'no-writes' } }
