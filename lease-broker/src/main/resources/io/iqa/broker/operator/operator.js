// The operator page: GPUs, leases, waiters and unleased GPU users from /v1/gpu/status (polled),
// the live event stream from /v1/gpu/events (text/event-stream, read with fetch so the token can
// go in a header), and a force-release button. Every value from the broker is put in the page as
// text (textContent), never as HTML.
'use strict';

const EVENTS_SHOWN = 200;
let token = sessionStorage.getItem('gpu-lease-token') || '';
let lastSeq = 0;

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token) h['Authorization'] = 'Bearer ' + token;
  return h;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = el('tr');
  for (const c of cells) {
    const td = el('td');
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? '' : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function table(head, rows, id) {
  const t = el('table');
  if (id) t.id = id;
  const thead = el('thead');
  const tr = el('tr');
  head.forEach(h => tr.appendChild(el('th', h)));
  thead.appendChild(tr);
  t.appendChild(thead);
  const tbody = el('tbody');
  rows.forEach(r => tbody.appendChild(r));
  t.appendChild(tbody);
  return t;
}

function seconds(s) {
  if (s === null || s === undefined) return '';
  s = Math.max(0, Math.round(s));
  return s >= 3600 ? Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min'
      : s >= 60 ? Math.floor(s / 60) + ' min ' + s % 60 + ' s' : s + ' s';
}

function mb(v) {
  return v === null || v === undefined ? '' : v === 0 ? 'whole device' : v + ' MB';
}

function say(text, error) {
  const m = document.getElementById('message');
  m.textContent = text || '';
  m.className = error ? 'error' : '';
}

function needToken(why) {
  document.getElementById('auth').hidden = false;
  say(why, true);
}

async function forceRelease(lease) {
  if (!confirm('Force-release lease ' + lease.lease_id + ' of ' + lease.owner + ' on gpu ' + lease.gpu + '?\n\n'
      + 'The holder is told to stop; the GPU is handed on when it releases, or at its expiry.')) {
    return;
  }
  const r = await fetch('/v1/gpu/force_release', {
    method: 'POST',
    headers: headers({'Content-Type': 'application/json'}),
    body: JSON.stringify({lease_id: lease.lease_id, reason: 'force-released from the operator page'})
  });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) {
    needToken('Force-release needs a token with the right to it: ' + (body.message || r.status));
  } else if (!r.ok) {
    say('Force-release refused: ' + (body.message || r.status), true);
  } else {
    say('Lease ' + lease.lease_id + ' of ' + lease.owner + ' revoked: the holder is told to stop.');
  }
  refresh();
}

function renderGpu(g) {
  const box = el('div', null, 'gpu');
  box.dataset.gpu = g.gpu;
  box.appendChild(el('h3', 'gpu ' + g.gpu + (g.vram_mb > 0 ? ' (' + g.free_vram_mb + ' of ' + g.vram_mb + ' MB free)' : '')));
  const observed = g.observed || null;
  const byLease = {};
  if (observed) (observed.processes || []).forEach(p => { if (p.lease_id) byLease[p.lease_id] = (byLease[p.lease_id] || 0) + (p.used_mb || 0); });
  const leases = (g.leases || []).map(l => {
    const button = el('button', 'force-release', 'force');
    button.type = 'button';
    button.dataset.lease = l.lease_id;
    button.addEventListener('click', () => forceRelease(Object.assign({gpu: g.gpu}, l)));
    const tr = row([l.lease_id, el('span', l.state, 'state-' + l.state), l.owner, l.purpose, l.pid, seconds(l.age_s),
      seconds(l.expires_in_s), mb(l.vram_mb), l.observed_vram_mb !== undefined ? l.observed_vram_mb + ' MB'
          : (byLease[l.lease_id] !== undefined ? byLease[l.lease_id] + ' MB' : ''), button]);
    tr.className = 'lease';
    tr.dataset.owner = l.owner;
    return tr;
  });
  box.appendChild(leases.length ? table(['lease', 'state', 'owner', 'purpose', 'pid', 'age', 'expires in', 'asked VRAM',
    'observed VRAM', ''], leases) : el('p', 'free', 'muted free'));
  const waiting = (g.waiting || []).map(w => row([w.owner, w.purpose, w.priority, mb(w.vram_mb), seconds(w.waited_s)]));
  if (waiting.length) {
    box.appendChild(el('h3', 'waiting'));
    box.appendChild(table(['owner', 'purpose', 'priority', 'asked VRAM', 'waited'], waiting));
  }
  const unleased = observed ? (observed.unleased || []) : [];
  if (unleased.length) {
    box.appendChild(el('h3', 'using the GPU without a lease', 'unleased'));
    box.appendChild(table(['pid', 'command', 'VRAM'], unleased.map(u => row([u.pid, u.command, u.used_mb + ' MB']))));
  }
  return box;
}

async function refresh() {
  let r;
  try {
    r = await fetch('/v1/gpu/status', {headers: headers()});
  } catch (e) {
    document.getElementById('summary').textContent = 'broker unreachable';
    return;
  }
  if (r.status === 401) {
    needToken('This broker requires a token to show its status.');
    return;
  }
  const s = await r.json();
  document.getElementById('summary').textContent = 'store ' + s.store + ', stale after ' + seconds(s.stale_max_age_s)
      + (s.recovering_until ? ', recovering until ' + s.recovering_until : '') + ', ' + new Date(s.time).toLocaleTimeString();
  const gpus = document.getElementById('gpus');
  gpus.replaceChildren(...(s.gpus || []).map(renderGpu));
}

// One status request for a burst of events (a page load replays up to events_max of them), not one each.
let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer === null) {
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 250);
  }
}

function addEvent(e) {
  lastSeq = Math.max(lastSeq, e.seq || 0);
  const details = [e.purpose, e.reason, e.message, e.by ? 'by ' + e.by : null].filter(x => x).join('; ');
  const tr = row([e.time ? new Date(e.time).toLocaleTimeString() : '', e.type, e.lease_id, e.gpu, e.owner, details]);
  tr.cells[5].className = 'wrap';
  tr.dataset.type = e.type;
  const tbody = document.querySelector('#events tbody');
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > EVENTS_SHOWN) tbody.deleteRow(tbody.rows.length - 1);
}

// Reads the event stream (server-sent events) with fetch: EventSource cannot send a token.
async function stream() {
  const state = document.getElementById('stream-state');
  for (;;) {
    try {
      const r = await fetch('/v1/gpu/events?since=' + lastSeq, {headers: headers({'Accept': 'text/event-stream'})});
      if (r.status === 401) {
        state.textContent = '(needs a token)';
        await new Promise(ok => setTimeout(ok, 2000));
        continue;
      }
      state.textContent = '(live)';
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, {stream: true});
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n');
          if (data) {
            addEvent(JSON.parse(data));
            refreshSoon();
          }
        }
      }
    } catch (e) {
      // the broker went away: try again
    }
    state.textContent = '(reconnecting)';
    await new Promise(ok => setTimeout(ok, 2000));
  }
}

document.getElementById('auth-form').addEventListener('submit', ev => {
  ev.preventDefault();
  token = document.getElementById('token').value.trim();
  sessionStorage.setItem('gpu-lease-token', token);
  document.getElementById('auth').hidden = true;
  say('');
  refresh();
});

refresh();
setInterval(refresh, 2000);
stream();
