/**
 * The local stack's demo page: drop (or pick) an image → POST /classify → top-5 with bars;
 * "Upload to S3" goes through POST /uploads and the presigned PUT, so the s3-tagger labels it;
 * a list of the most recent result objects in S3 (GET /recent).
 */
export const WEB_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>resnet-serverless local</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:15px system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
 #drop{border:2px dashed #888;border-radius:8px;padding:2em;text-align:center;cursor:pointer}
 #drop.over{background:#eef}
 .row{display:flex;align-items:center;gap:.5em;margin:.3em 0}
 .name{width:40%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
 .bar{height:14px;background:#3a7;border-radius:3px}
 .score{width:5em;text-align:right;font-variant-numeric:tabular-nums}
 #error{color:#b00}
 li{margin:.2em 0}
 img#preview{max-width:200px;max-height:200px;display:block;margin:1em 0}
</style></head>
<body>
<h1>resnet-serverless — local stack</h1>
<p>Model: <b id="model">?</b></p>
<div id="drop">Drop an image here, or click to choose one<input id="file" type="file" accept="image/*" hidden></div>
<label><input id="viaS3" type="checkbox"> also upload to S3 (labelled by the s3-tagger)</label>
<img id="preview" alt="">
<div id="error" role="alert"></div>
<div id="labels" aria-label="top-5"></div>
<h2>Recent results in S3</h2>
<ul id="recent"></ul>
<script>
const $ = (id) => document.getElementById(id);
function pct(s) { return (100 * s).toFixed(1) + '%'; }
function show(labels) {
  const box = $('labels'); box.textContent = '';
  for (const l of labels) {
    const row = document.createElement('div'); row.className = 'row label';
    const name = document.createElement('span'); name.className = 'name'; name.textContent = l.name; name.title = l.id + ' ' + l.name;
    const bar = document.createElement('span'); bar.className = 'bar'; bar.style.width = Math.max(1, 300 * l.score) + 'px';
    const score = document.createElement('span'); score.className = 'score'; score.textContent = pct(l.score);
    row.append(name, bar, score); box.append(row);
  }
}
async function recent() {
  const r = await fetch('/recent'); const { results } = await r.json();
  const ul = $('recent'); ul.textContent = '';
  for (const d of results) {
    const li = document.createElement('li');
    li.textContent = d.key + ' — ' + (d.error ? 'error ' + d.error.code : d.labels[0].name + ' (' + pct(d.labels[0].score) + ')');
    ul.append(li);
  }
}
async function classify(file) {
  $('error').textContent = ''; $('labels').textContent = '…';
  $('preview').src = URL.createObjectURL(file);
  const r = await fetch('/classify', { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file });
  const body = await r.json();
  if (!r.ok) { $('labels').textContent = ''; $('error').textContent = r.status + ' ' + body.error.code + ': ' + body.error.message; return; }
  $('model').textContent = body.model; show(body.labels);
  if ($('viaS3').checked) {
    const up = await (await fetch('/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ filename: file.name, contentType: file.type || 'application/octet-stream' }) })).json();
    await fetch(up.uploadUrl, { method: 'PUT', headers: up.headers, body: file });
    for (let i = 0; i < 30; i++) { const g = await fetch(up.resultPath); if (g.ok) break; await new Promise((res) => setTimeout(res, 500)); }
  }
  recent();
}
const drop = $('drop');
drop.onclick = () => $('file').click();
$('file').onchange = (e) => e.target.files[0] && classify(e.target.files[0]);
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]); };
recent();
</script>
</body></html>
`;
