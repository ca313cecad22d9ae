/* The local stack's page: model facts (GET /model), classification of dropped, chosen or pasted
 * images (POST /classify, with the page's own DetectLabels options such as ?minConfidence=20), the optional S3 upload followed until the s3-tagger has written its tags
 * and result (POST /uploads, the presigned POST to S3, GET /objects/{key}), and the stored results (GET /recent).
 * Plain browser JavaScript, no dependencies: the stack runs offline. */
/* global document, window, fetch, FormData, URL, URLSearchParams, setTimeout */
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const PAGE_SIZE = Math.min(100, Math.max(1, Number(params.get('pageSize')) || 12));
const POLL_MS = 400;
const POLL_LIMIT_MS = 120_000;
const STAGES = ['decode', 'preprocess', 'inference', 'postprocess', 'total'];
const LABEL_OPTIONS = ['top', 'minConfidence', 'maxLabels', 'includeLabels', 'excludeLabels', 'includeCategories', 'excludeCategories', 'parents'];

/** Makes an element: el('p', {className: 'x'}, 'text', child). */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

const pct = (s) => (100 * s).toFixed(s >= 0.1 ? 1 : 2) + '%';
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
const bytes = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + ' MB' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' kB' : n + ' B');
const when = (iso) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(iso));
const sleep = (t) => new Promise((r) => setTimeout(r, t));

/** A fetch that never throws: {ok, status, body} where a failed body is {error:{code,message}}. */
async function call(url, init) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (err) {
    return { ok: false, status: 0, body: { error: { code: 'NETWORK', message: 'The local stack did not answer (' + err.message + '); is it still running?' } } };
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  if (!r.ok && !(body && body.error)) body = { error: { code: 'HTTP_' + r.status, message: r.statusText || 'The request failed.' } };
  return { ok: r.ok, status: r.status, body };
}

/** The typed error of an answer, shown as code and message. */
function errorBox(error, status) {
  return el('p', { className: 'error', role: 'alert' },
    el('code', { className: 'code' }, error.code), ' ',
    el('span', { className: 'message' }, error.message),
    status ? el('span', { className: 'status muted' }, ' (HTTP ' + status + ')') : null);
}

/** Top-k labels (or, with kind 'parents', their WordNet parents) as a list of bars, scores as text. */
function labelList(labels, name, kind) {
  const parents = kind === 'parents';
  const list = el('ol', { className: parents ? 'labels parents' : 'labels' });
  list.setAttribute('aria-label', (parents ? labels.length + ' parents' : 'Top ' + labels.length + ' labels') + (name ? ' for ' + name : ''));
  for (const l of labels) {
    const bar = el('span', { className: 'bar' });
    bar.style.width = Math.max(0.5, 100 * l.score) + '%';
    const track = el('span', { className: 'track' }, bar);
    track.setAttribute('aria-hidden', 'true');
    list.append(el('li', { className: 'label', title: parents ? l.id + ' (sum over the classes under it)' : l.id + ' (class ' + l.index + ')' },
      el('span', { className: 'name' }, l.name), track, el('span', { className: 'score' }, pct(l.score))));
  }
  return list;
}

/** The labels and, when there are any, the parents under a heading. */
function answerLists(labels, parents, name) {
  const out = [labelList(labels, name)];
  if (parents && parents.length) out.push(el('p', { className: 'muted parents-h' }, 'Parents'), labelList(parents, name, 'parents'));
  return out;
}

function timingList(t) {
  const dl = el('dl', { className: 'timings' });
  dl.setAttribute('aria-label', 'Time by stage');
  for (const s of STAGES) if (typeof t[s] === 'number') dl.append(el('div', { className: 'stage' }, el('dt', {}, s), el('dd', {}, ms(t[s]))));
  return dl;
}

function announce(text) {
  $('announce').textContent = text;
}

// ---- model -------------------------------------------------------------------------------------

async function loadModel() {
  const { ok, status, body } = await call('/model');
  if (!ok) {
    const box = $('model-error');
    box.hidden = false;
    box.replaceChildren('Cannot read the served model: ', el('code', {}, body.error.code), ' ' + body.error.message + ' (HTTP ' + status + ')');
    return;
  }
  $('model-id').textContent = body.id;
  $('model-input').textContent = body.inputSize + ' × ' + body.inputSize + ' px';
  $('model-classes').textContent = body.numClasses.toLocaleString('en');
  if (body.untrained) {
    $('untrained').hidden = false;
    $('model-id').append(' ', el('span', { className: 'badge' }, 'untrained'));
    if (body.trained) {
      $('fetch-command').textContent = body.trained.fetchCommand;
      $('restart-command').textContent = body.trained.id === 'resnet50-v2' ? 'npm start' : 'npm start -- --model ' + body.trained.id;
    }
  }
}

// ---- classify ----------------------------------------------------------------------------------

let queue = Promise.resolve();

function newCard(file) {
  const name = file.name || 'pasted image';
  const img = el('img', { alt: 'Preview of ' + name, src: URL.createObjectURL(file) });
  const figure = el('figure', { className: 'thumb' }, img);
  img.addEventListener('error', () => figure.replaceChildren(el('span', { className: 'no-preview' }, 'no preview')), { once: true });
  const state = el('p', { className: 'state muted' }, 'Waiting…');
  const body = el('div', { className: 'card-body' }, el('h3', { className: 'file' }, name, ' ', el('span', { className: 'muted size' }, bytes(file.size))), state);
  const card = el('li', { className: 'card' }, figure, body);
  card.setAttribute('aria-busy', 'true');
  $('results').prepend(card);
  return { card, body, state, name };
}

async function classify(file, viaS3, c) {
  c.state.textContent = 'Classifying…';
  const type = file.type || 'application/octet-stream';
  // DetectLabels' options given to the page (?minConfidence=20&includeCategories=Animals) go on to /classify.
  const options = new URLSearchParams();
  for (const k of LABEL_OPTIONS) if (params.has(k)) options.set(k, params.get(k));
  const query = options.toString();
  const r = await call('/classify' + (query ? '?' + query : ''), { method: 'POST', headers: { 'content-type': type }, body: file });
  c.state.remove();
  if (r.ok) {
    c.body.append(el('p', { className: 'muted model-line' }, 'Model ', el('code', {}, r.body.model)), ...answerLists(r.body.labels, r.body.parents, c.name), timingList(r.body.timingsMs));
    c.card.classList.add('done');
    announce(c.name + ': ' + r.body.labels[0].name + ' ' + pct(r.body.labels[0].score));
  } else {
    c.body.append(errorBox(r.body.error, r.status));
    if (r.body.error.code === 'PAYLOAD_TOO_LARGE' && !viaS3) c.body.append(el('p', { className: 'muted' }, 'Tick “Also upload to S3” to have it labelled through S3 instead.'));
    c.card.classList.add('failed');
    announce(c.name + ': error ' + r.body.error.code);
  }
  c.card.setAttribute('aria-busy', 'false');
  if (viaS3) await upload(file, type, c);
}

// ---- upload to S3 and follow the s3-tagger ----------------------------------------------------

/** S3's XML error (e.g. EntityTooLarge) as an Error with its code and HTTP status. */
async function s3Error(res) {
  const text = await res.text();
  const tag = (t) => (new RegExp('<' + t + '>([^<]*)</' + t + '>').exec(text) || [])[1];
  return Object.assign(new Error(tag('Message') || 'S3 answered HTTP ' + res.status), { code: tag('Code') || 'UPLOAD_FAILED', status: res.status });
}

async function upload(file, type, c) {
  const box = el('div', { className: 's3' }, el('h4', {}, 'S3'));
  const steps = el('ol', { className: 'steps' });
  box.append(steps);
  c.body.append(box);
  const step = (content) => {
    const li = el('li', {}, ...content);
    steps.append(li);
    return li;
  };
  const up = await call('/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filename: c.name, contentType: type }) });
  if (!up.ok) return void box.append(errorBox(up.body.error, up.status));
  const { bucket, key } = up.body;
  step(['Key ', el('code', { className: 'key' }, key), ' in bucket ', el('code', {}, bucket)]);
  if (file.size > up.body.maxBytes) {
    return void box.append(errorBox({ code: 'UPLOAD_TOO_LARGE', message: 'The file is ' + bytes(file.size) + '; uploads are limited to ' + bytes(up.body.maxBytes) + ', the largest object the labeller reads.' }, 0));
  }
  const sending = step(['Uploading…']);
  try {
    // The presigned POST's policy fields first, the file last, as S3 requires.
    const form = new FormData();
    for (const [name, value] of Object.entries(up.body.fields)) form.append(name, value);
    form.append('file', file, c.name);
    const post = await fetch(up.body.url, { method: 'POST', body: form });
    if (!post.ok) throw await s3Error(post);
  } catch (err) {
    sending.remove();
    return void box.append(errorBox({ code: err.code || 'UPLOAD_FAILED', message: err.message }, err.status || 0));
  }
  sending.remove();
  const seen = { object: false, tags: false };
  const waiting = step(['Waiting for the object…']);
  for (const t0 = Date.now(); Date.now() - t0 < POLL_LIMIT_MS; await sleep(POLL_MS)) {
    const o = await call('/objects/' + encodeURIComponent(key));
    if (!o.ok) {
      waiting.remove();
      return void box.append(errorBox(o.body.error, o.status));
    }
    if (o.body.object && !seen.object) {
      seen.object = true;
      waiting.before(el('li', { className: 'stored' }, 'Stored: ' + bytes(o.body.object.size) + (o.body.object.contentType ? ', ' + o.body.object.contentType : '')));
      waiting.textContent = 'Waiting for the s3-tagger…';
    }
    const ours = (o.body.tags || []).filter((t) => t.key.startsWith('resnet:'));
    if (ours.length && !seen.tags) {
      seen.tags = true;
      const dl = el('dl', { className: 'tags' });
      for (const t of o.body.tags) dl.append(el('div', {}, el('dt', {}, el('code', {}, t.key)), el('dd', {}, t.value)));
      waiting.before(el('li', { className: 'tagged' }, 'Tags', dl));
    }
    if (o.body.result) {
      waiting.remove();
      const doc = o.body.result;
      const li = step(['Result ', el('a', { href: '/results/' + encodeURIComponent(key) }, 'JSON'), ' by ' + (doc.producer || '?') + (doc.labelledAt ? ', ' + when(doc.labelledAt) : '')]);
      li.className = 'result';
      li.append(doc.error ? errorBox(doc.error, 0) : el('p', {}, 'Top label: ', el('strong', {}, doc.labels[0].name), ' ' + pct(doc.labels[0].score)));
      announce(c.name + ': stored result in S3');
      loadRecent();
      return;
    }
  }
  waiting.remove();
  box.append(errorBox({ code: 'RESULT_TIMEOUT', message: 'No result after ' + POLL_LIMIT_MS / 1000 + ' s; see the local stack\'s log.' }, 0));
}

function enqueue(files) {
  const list = Array.from(files || []).filter((f) => f && f.size !== undefined);
  const viaS3 = $('viaS3').checked;
  // Cards appear at once (waiting); the images are classified one after another, in order.
  for (const f of list) {
    const c = newCard(f);
    queue = queue.then(() => classify(f, viaS3, c)).catch((err) => announce('Unexpected error: ' + err.message));
  }
  return queue;
}

// ---- recent results ----------------------------------------------------------------------------

const recentState = { offsets: [0], label: '' };

function recentCard(doc) {
  const img = el('img', { alt: 'Image s3://' + doc.bucket + '/' + doc.key, loading: 'lazy', src: doc.imageUrl });
  const figure = el('figure', { className: 'thumb' }, img);
  img.addEventListener('error', () => figure.replaceChildren(el('span', { className: 'no-preview' }, 'no preview')), { once: true });
  const body = el('div', { className: 'card-body' }, el('p', { className: 'key-line' }, el('code', { className: 'key' }, doc.key)));
  if (doc.error) body.append(errorBox(doc.error, 0));
  else body.append(...answerLists(doc.labels.slice(0, 3), (doc.parents || []).slice(0, 3), doc.key));
  body.append(el('p', { className: 'muted meta' },
    el('code', { className: 'model-name' }, doc.model),
    doc.labelledAt ? el('time', { dateTime: doc.labelledAt }, ' · ' + when(doc.labelledAt)) : null,
    ' · ', el('a', { href: '/results/' + encodeURIComponent(doc.key) }, 'JSON')));
  return el('li', { className: 'card' }, figure, body);
}

async function loadRecent() {
  const offset = recentState.offsets[recentState.offsets.length - 1];
  const q = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  if (recentState.label) q.set('label', recentState.label);
  const list = $('recent');
  list.setAttribute('aria-busy', 'true');
  // A slow first listing must not read as "no results".
  $('recent-summary').textContent = 'Loading…';
  const r = await call('/recent?' + q);
  list.setAttribute('aria-busy', 'false');
  if (!r.ok) {
    list.replaceChildren(el('li', {}, errorBox(r.body.error, r.status)));
    return;
  }
  list.replaceChildren(...r.body.results.map(recentCard));
  const page = recentState.offsets.length;
  const filter = recentState.label ? ' with a label matching “' + recentState.label + '”' : '';
  $('recent-summary').textContent = r.body.results.length
    ? 'Page ' + page + ': ' + r.body.results.length + ' result' + (r.body.results.length === 1 ? '' : 's') + filter + ', newest first.'
    : r.body.listed ? 'No results' + filter + (page > 1 ? ' on this page.' : '.') : 'No results yet: tick “Also upload to S3”, or copy images into the bucket.';
  $('page-info').textContent = 'Page ' + page;
  $('newer').disabled = page === 1;
  $('older').disabled = r.body.next === null;
  $('older').dataset.next = r.body.next === null ? '' : String(r.body.next);
}

// ---- wiring ------------------------------------------------------------------------------------

function imageFiles(dataTransfer) {
  if (!dataTransfer) return [];
  if (dataTransfer.files && dataTransfer.files.length) return Array.from(dataTransfer.files);
  return Array.from(dataTransfer.items || []).filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
}

function wire() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => {
    enqueue(e.target.files);
    e.target.value = '';
  });
  // A file dropped anywhere else must not navigate away from the page.
  for (const type of ['dragover', 'drop']) window.addEventListener(type, (e) => e.preventDefault());
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    enqueue(imageFiles(e.dataTransfer));
  });
  document.addEventListener('paste', (e) => {
    const files = imageFiles(e.clipboardData);
    if (!files.length) return;
    e.preventDefault();
    enqueue(files);
  });
  $('filter').addEventListener('submit', (e) => {
    e.preventDefault();
    recentState.label = $('label-filter').value.trim();
    recentState.offsets = [0];
    loadRecent();
  });
  $('refresh').addEventListener('click', () => loadRecent());
  $('older').addEventListener('click', () => {
    const next = $('older').dataset.next;
    if (next === '') return;
    recentState.offsets.push(Number(next));
    loadRecent();
  });
  $('newer').addEventListener('click', () => {
    if (recentState.offsets.length > 1) recentState.offsets.pop();
    loadRecent();
  });
}

wire();
loadModel();
loadRecent();
// For tests and the console: the queue of classifications in flight.
window.resnetPage = { idle: () => queue };
