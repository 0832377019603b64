// facetrain live page: camera or photo in, boxes and names out, recognition on the server or in TF.js.
// Plain ES module, no build step; everything it loads comes from the same server.

const $ = (id) => document.getElementById(id);
const els = {
  status: $('status'), video: $('video'), photo: $('photo'), overlay: $('overlay'),
  fps: $('fps'), latency: $('latency'), faces: $('faces'), modeNote: $('mode-note'),
  cameraStart: $('camera-start'), cameraStop: $('camera-stop'), photoInput: $('photo-input'),
  modeServer: $('mode-server'), modeBrowser: $('mode-browser'),
  enrolForm: $('enrol-form'), enrolName: $('enrol-name'), shotTake: $('shot-take'), shotFiles: $('shot-files'),
  shots: $('shots'), shotsClear: $('shots-clear'), apiKey: $('api-key'), peopleList: $('people-list'),
};

/** Frames sent to the server are scaled down to this longest side: enough for recognition, light on the wire. */
const SEND_MAX_SIDE = 640;
const state = { model: null, mode: 'server', stream: null, running: false, busy: false, browserModel: null, shots: [], announced: '' };

function setStatus(message, isError = false) {
  els.status.textContent = message;
  els.status.classList.toggle('error', isError);
}

async function apiError(response) {
  try {
    const body = await response.json();
    return body.error?.message ?? `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(await apiError(response));
  return response.json();
}

// ---- model description and people ----

async function refreshModel() {
  state.model = await getJson('/v1/model');
  renderPeople(state.model.labels);
  const browser = state.model.browser;
  els.modeBrowser.disabled = !browser.supported;
  els.modeNote.textContent = browser.supported ? '' : `In-browser recognition is off: ${browser.reason}.`;
  state.browserModel?.dispose();
  state.browserModel = null;
}

function renderPeople(labels) {
  els.peopleList.replaceChildren(
    ...labels.map((name) => {
      const li = document.createElement('li');
      const forget = document.createElement('button');
      forget.type = 'button';
      forget.textContent = 'Forget';
      forget.setAttribute('aria-label', `Forget ${name}`);
      forget.addEventListener('click', () => forgetPerson(name));
      li.append(`${name} `, forget);
      return li;
    }),
  );
}

// ---- recognition: server ----

function drawableSize(source) {
  return source instanceof HTMLVideoElement ? { width: source.videoWidth, height: source.videoHeight } : { width: source.naturalWidth, height: source.naturalHeight };
}

function frameToBlob(source) {
  const { width, height } = drawableSize(source);
  const scale = Math.min(1, SEND_MAX_SIDE / Math.max(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob((blob) => resolve({ blob, scale }), 'image/jpeg', 0.9));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function recognizeOnServer(source) {
  const { blob, scale } = await frameToBlob(source);
  const response = await fetch('/v1/recognize?top_k=3', { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: blob });
  if (response.status === 503) {
    state.busy = true;
    setStatus('The server is busy; retrying shortly.');
    await sleep(1000 * Number(response.headers.get('retry-after') ?? 1));
    return null;
  }
  if (!response.ok) throw new Error(await apiError(response));
  if (state.busy) {
    // the busy message would otherwise stay up long after the server has caught up
    state.busy = false;
    setStatus('The server has caught up; recognizing again.');
  }
  const { faces } = await response.json();
  // boxes come back in the sent frame's pixels; the overlay uses the source's own
  return faces.map((f) => ({ ...f, box: { x: f.box.x / scale, y: f.box.y / scale, width: f.box.width / scale, height: f.box.height / scale } }));
}

// ---- recognition: browser (TF.js) ----

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(script);
  });
}

async function loadTfjs() {
  if (window.tf?.loadLayersModel) return window.tf;
  for (const file of ['tf-core.min.js', 'tf-backend-cpu.min.js', 'tf-backend-wasm.min.js', 'tf-layers.min.js', 'tf-converter.min.js']) await loadScript(`/vendor/${file}`);
  const tf = window.tf;
  tf.wasm.setWasmPaths('/vendor/');
  if (!(await tf.setBackend('wasm').catch(() => false))) await tf.setBackend('cpu');
  await tf.ready();
  return tf;
}

async function browserModel() {
  if (state.browserModel) return state.browserModel;
  setStatus('Loading TF.js and the model into the browser…');
  const tf = await loadTfjs();
  const { kind, modelUrl } = state.model.browser;
  // a face model is the whole pipeline (detector, landmarks, recognizer); a whole-image model is one classifier
  const model = kind === 'face-pipeline' ? await (await import('/web/face-pipeline.js')).loadFacePipeline(tf, modelUrl) : await tf.loadLayersModel(modelUrl);
  state.browserModel = model;
  setStatus(`Model loaded in the browser (TF.js ${tf.getBackend()} backend).`);
  return model;
}

async function recognizeInBrowser(source) {
  const model = await browserModel();
  const tf = window.tf;
  if (state.model.browser.kind === 'face-pipeline') return (await import('/web/face-pipeline.js')).recognizeFaces(tf, model, source);
  const { size, mean, std } = state.model.input;
  const scores = tf.tidy(() => {
    // the UMD core bundle has no chained tensor methods: functional ops only
    const pixels = tf.image.resizeBilinear(tf.browser.fromPixels(source), [size, size]);
    return model.predict(tf.expandDims(tf.div(tf.sub(pixels, mean), std), 0));
  });
  const probs = await scores.data();
  scores.dispose();
  const { labels, threshold } = state.model;
  const topK = labels.map((label, i) => ({ label, score: probs[i] })).sort((a, b) => b.score - a.score).slice(0, 3);
  const best = topK[0];
  const { width, height } = drawableSize(source);
  return [{ box: { x: 0, y: 0, width, height }, label: best.score >= threshold ? best.label : 'unknown', score: best.score, topK }];
}

// ---- drawing and results ----

function draw(source, faces) {
  const { width, height } = drawableSize(source);
  const canvas = els.overlay;
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  const line = Math.max(2, Math.round(width / 200));
  ctx.font = `${Math.max(14, Math.round(width / 30))}px system-ui, sans-serif`;
  ctx.lineWidth = line;
  for (const face of faces) {
    const { x, y, width: w, height: h } = face.box;
    const colour = face.label === 'unknown' ? '#f0a020' : '#20c060';
    ctx.strokeStyle = colour;
    ctx.strokeRect(x + line / 2, y + line / 2, w - line, h - line);
    const text = `${face.label} ${(face.score * 100).toFixed(0)}%`;
    const textHeight = parseInt(ctx.font, 10) * 1.3;
    const textY = y > textHeight ? y - textHeight : y;
    ctx.fillStyle = colour;
    ctx.fillRect(x, textY, ctx.measureText(text).width + 12, textHeight);
    ctx.fillStyle = '#000';
    ctx.fillText(text, x + 6, textY + textHeight * 0.78);
  }
}

function listFaces(faces) {
  // the list is a live region: rewrite it only when who is there changes, not on every frame
  const summary = faces.map((f) => f.label).join(',');
  const items = faces.map((f) => {
    const li = document.createElement('li');
    li.dataset.label = f.label;
    li.innerHTML = '<span class="name"></span> <span class="score"></span>';
    li.querySelector('.name').textContent = f.label;
    li.querySelector('.score').textContent = `${(f.score * 100).toFixed(1)}%`;
    return li;
  });
  if (summary !== state.announced) {
    state.announced = summary;
    els.faces.replaceChildren(...(items.length ? items : [Object.assign(document.createElement('li'), { textContent: 'No face found' })]));
  } else {
    items.forEach((li, i) => els.faces.children[i]?.querySelector('.score')?.replaceChildren(li.querySelector('.score').textContent));
  }
}

function recognize(source) {
  return state.mode === 'browser' ? recognizeInBrowser(source) : recognizeOnServer(source);
}

/** Completed recognitions in the last two seconds, per second. */
function fpsMeter() {
  const stamps = [];
  return () => {
    const now = performance.now();
    stamps.push(now);
    while (stamps[0] < now - 2000) stamps.shift();
    const span = Math.max(1, Math.min(2000, now - stamps[0])) / 1000;
    return stamps.length > 1 ? (stamps.length - 1) / span : 0;
  };
}

async function recognitionLoop() {
  const tick = fpsMeter();
  while (state.running) {
    const started = performance.now();
    try {
      const faces = await recognize(els.video);
      if (!state.running) break;
      if (faces) {
        draw(els.video, faces);
        listFaces(faces);
        els.fps.textContent = tick().toFixed(1);
        els.latency.textContent = `${Math.round(performance.now() - started)} ms (${state.mode})`;
      }
    } catch (err) {
      // a frame still in flight when the camera stops fails on the emptied video: not an error to show
      if (!state.running) break;
      setStatus(`Recognition failed: ${err.message}`, true);
      await sleep(1000);
    }
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

// ---- camera and photo ----

async function startCamera() {
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    setStatus(`The camera is not available: ${err.message}. You can still recognize a photo.`, true);
    return;
  }
  els.video.srcObject = state.stream;
  await els.video.play();
  els.photo.hidden = true;
  els.video.hidden = false;
  els.cameraStart.disabled = true;
  els.cameraStop.disabled = false;
  els.shotTake.disabled = false;
  state.running = true;
  setStatus(`Camera on; recognizing ${state.mode === 'browser' ? 'in the browser' : 'on the server'}.`);
  void recognitionLoop();
}

function stopCamera() {
  state.running = false;
  state.stream?.getTracks().forEach((track) => track.stop());
  state.stream = null;
  els.video.srcObject = null;
  els.cameraStart.disabled = false;
  els.cameraStop.disabled = true;
  els.shotTake.disabled = true;
  els.fps.textContent = '–';
  setStatus('Camera off.');
}

/** Removes the previous photo's boxes and names, so they are never shown over another photo. */
function clearResults() {
  els.overlay.getContext('2d').clearRect(0, 0, els.overlay.width, els.overlay.height);
  state.announced = null;
  els.faces.replaceChildren();
}

async function recognizePhoto(file) {
  stopCamera();
  clearResults();
  const url = URL.createObjectURL(file);
  els.photo.src = url;
  try {
    await els.photo.decode();
  } catch {
    els.photo.hidden = true;
    setStatus(`${file.name} cannot be read as an image (not a photo, damaged, or a format this browser cannot show); choose a JPEG or PNG.`, true);
    return;
  }
  els.video.hidden = true;
  els.photo.hidden = false;
  setStatus(`Recognizing ${file.name}…`);
  try {
    const started = performance.now();
    const faces = state.mode === 'browser' ? await recognizeInBrowser(els.photo) : await recognizeOnServer(els.photo);
    if (!faces) return setStatus(`The server is busy; choose ${file.name} again in a moment.`, true);
    draw(els.photo, faces);
    listFaces(faces);
    els.latency.textContent = `${Math.round(performance.now() - started)} ms (${state.mode})`;
    setStatus(`${file.name}: ${faces.length === 0 ? 'no face found' : faces.map((f) => f.label).join(', ')}.`);
  } catch (err) {
    setStatus(`${file.name}: ${err.message}`, true);
  }
}

// ---- enrolment ----

function renderShots() {
  els.shots.replaceChildren(
    ...state.shots.map((shot, i) => {
      const li = document.createElement('li');
      const img = document.createElement('img');
      img.src = shot.url;
      img.alt = `Photo ${i + 1} to enrol`;
      li.append(img);
      return li;
    }),
  );
}

function addShot(blob, name) {
  state.shots.push({ blob, name, url: URL.createObjectURL(blob) });
  renderShots();
}

async function takeShot() {
  const { blob } = await frameToBlob(els.video);
  addShot(blob, `camera-${state.shots.length + 1}.jpg`);
  setStatus(`${state.shots.length} photo(s) ready to enrol.`);
}

function clearShots() {
  state.shots.forEach((shot) => URL.revokeObjectURL(shot.url));
  state.shots = [];
  renderShots();
}

function apiKeyOrAsk() {
  const key = els.apiKey.value.trim();
  if (!key) {
    setStatus('Enter the API key first: changing the model needs it.', true);
    els.apiKey.focus();
  }
  return key;
}

async function enrol(event) {
  event.preventDefault();
  const name = els.enrolName.value.trim();
  if (!name) return els.enrolName.focus();
  if (state.shots.length === 0) return setStatus('Take or choose at least one photo of the person first.', true);
  const key = apiKeyOrAsk();
  if (!key) return;
  const form = new FormData();
  state.shots.forEach((shot) => form.append('file', shot.blob, shot.name));
  setStatus(`Enrolling ${name} from ${state.shots.length} photo(s)…`);
  const response = await fetch(`/v1/people/${encodeURIComponent(name)}/photos`, { method: 'POST', headers: { 'x-api-key': key }, body: form });
  if (!response.ok) return setStatus(`Enrolment failed: ${await apiError(response)}`, true);
  const result = await response.json();
  clearShots();
  await refreshModel();
  const skipped = result.skipped.length ? `; skipped ${result.skipped.map((s) => `${s.file} (${s.reason})`).join(', ')}` : '';
  setStatus(`Enrolled ${name}: ${result.added} photo(s) added${skipped}.`);
}

async function forgetPerson(name) {
  const key = apiKeyOrAsk();
  if (!key) return;
  const response = await fetch(`/v1/people/${encodeURIComponent(name)}`, { method: 'DELETE', headers: { 'x-api-key': key } });
  if (!response.ok) return setStatus(`Cannot forget ${name}: ${await apiError(response)}`, true);
  await refreshModel();
  setStatus(`${name} is forgotten.`);
}

// ---- wiring ----

function onModeChange() {
  state.mode = els.modeBrowser.checked ? 'browser' : 'server';
  state.announced = '';
  setStatus(state.mode === 'browser' ? 'Recognition runs in this browser.' : 'Recognition runs on the server.');
}

els.cameraStart.addEventListener('click', startCamera);
els.cameraStop.addEventListener('click', stopCamera);
els.photoInput.addEventListener('change', () => els.photoInput.files[0] && recognizePhoto(els.photoInput.files[0]));
els.modeServer.addEventListener('change', onModeChange);
els.modeBrowser.addEventListener('change', onModeChange);
els.shotTake.addEventListener('click', takeShot);
els.shotFiles.addEventListener('change', () => {
  for (const file of els.shotFiles.files) addShot(file, file.name);
  els.shotFiles.value = '';
});
els.shotsClear.addEventListener('click', clearShots);
els.enrolForm.addEventListener('submit', (event) => enrol(event).catch((err) => setStatus(`Enrolment failed: ${err.message}`, true)));

refreshModel()
  .then(() => setStatus(`Ready: ${state.model.labels.length} people known. Start the camera or choose a photo.`))
  .catch((err) => setStatus(`Cannot reach the server: ${err.message}`, true));
