// stylegan studio: the browser side. Vanilla JS, no dependencies. The HTTP API is the server's (stylegan/studio).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const image = $("image");

  let info = null;              // INFO of the open network, or null
  const latent = { x: 0, y: 0 };
  const dirsets = [];           // DIRSETs shown in #edits
  let projection = null;        // finished projection job id shown instead of the latent
  let projectPoll = null;       // {job, timer}

  // Render loop: at most one /api/render in flight; changes meanwhile are coalesced into one follow-up request.
  let requestCounter = 0;
  let inFlight = false;
  let dirty = false;            // the state changed since the last request was sent
  let dirtySince = null;        // performance.now() of the first change not yet sent
  let lastShownRequest = 0;
  let lastResponse = null;
  // The hook for tests and benchmarks; busy: a request is in flight or a change waits to be sent.
  window.studio = { frames: 0, lastLatencyMs: null, state: null, busy: false };

  // ---------------------------------------------------------------------------------------------------- helpers
  function setMessage(text) { $("message").textContent = text || ""; }

  async function api(method, url, body, { raw = false, contentType } = {}) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      if (body instanceof Blob || body instanceof ArrayBuffer) {
        options.body = body;
        options.headers["Content-Type"] = contentType || "application/octet-stream";
      } else {
        options.body = JSON.stringify(body);
        options.headers["Content-Type"] = "application/json";
      }
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (e) {
      throw new Error(`cannot reach the server (${e.message})`);
    }
    if (!response.ok) {
      let text = `HTTP ${response.status}`;
      try {
        const j = await response.json();
        if (j && j.error) text = j.error;
        else if (j && j.detail) text = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
      } catch (e) { /* not JSON */ }
      const err = new Error(text);
      err.status = response.status;
      throw err;
    }
    return raw ? response : response.json();
  }

  function int(id, fallback = null) {
    const v = $(id).value.trim();
    if (v === "") return fallback;
    const n = Number(v);
    return Number.isFinite(n) ? Math.trunc(n) : fallback;
  }
  function num(id) { return Number($(id).value); }
  const mod32 = (n) => ((n % 4294967296) + 4294967296) % 4294967296;
  const nearestSeed = () => mod32(Math.round(latent.x) + 100 * Math.round(latent.y));

  function download(href, filename) {
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function waitForLoad(img, src) {
    return new Promise((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error("the image could not be decoded"));
      img.src = src;
    });
  }

  // ------------------------------------------------------------------------------------------------------ state
  function buildState() {
    const numWs = info ? info.num_ws : 1;
    const edits = [];
    const lo = int("edit-lo"), hi = int("edit-hi");
    const editLayers = lo === null && hi === null ? null : [lo ?? 0, hi ?? numWs - 1];
    for (const slider of document.querySelectorAll("#edits .edit-slider")) {
      const strength = Number(slider.value);
      if (strength !== 0) {
        edits.push({ set: slider.dataset.set, index: Number(slider.dataset.index), strength, layers: editLayers });
      }
    }
    const transformable = info && info.transformable;
    return {
      request: 0,
      latent: { x: latent.x, y: latent.y, space: $("space").value },
      class_idx: info && info.c_dim > 0 ? int("class", 0) : null,
      psi: num("psi"),
      cutoff: int("cutoff"),
      noise_mode: $("noise-mode").value,
      noise_strength: num("noise-strength"),
      mix: $("mix-enable").checked ? { seed: int("mix-seed", 0), layers: [int("mix-lo", 0), int("mix-hi", 0)] } : null,
      edits,
      projection,
      translate: transformable ? [num("translate-x"), num("translate-y")] : [0, 0],
      rotate: transformable ? num("rotate") : 0,
      view: { layer: $("layer").value, mode: $("view-mode").value, channel: int("channel", 0) },
    };
  }

  function changed() {
    if (!info) return;
    if (dirtySince === null) dirtySince = performance.now();
    dirty = true;
    window.studio.busy = true;
    if (!inFlight) sendRender();
  }

  async function sendRender() {
    const since = dirtySince;
    dirty = false;
    dirtySince = null;
    const state = buildState();
    state.request = ++requestCounter;
    window.studio.state = state;
    inFlight = true;
    const t0 = performance.now();
    try {
      let result;
      try {
        result = await api("POST", "/api/render", state);
      } catch (e) {
        if (e.status === 409) return;   // a newer request overtook this one: nothing to show
        setMessage(e.message);
        return;
      }
      if (result.request < lastShownRequest) return;
      const roundTrip = performance.now() - t0;
      await waitForLoad(image, result.image);
      lastShownRequest = result.request;
      lastResponse = result;
      showResponse(result, roundTrip);
      setMessage("");
      const s = window.studio;
      s.frames += 1;
      s.lastLatencyMs = performance.now() - (since ?? t0);
      s.lastRenderMs = result.render_ms;
      s.lastRoundTripMs = roundTrip;
      image.dataset.frame = String(s.frames);
    } catch (e) {
      setMessage(e.message);
    } finally {
      inFlight = false;
      if (dirty && info) sendRender();
      else window.studio.busy = false;
    }
  }

  function showResponse(r, roundTrip) {
    $("render-time").textContent = `render ${r.render_ms.toFixed(1)} ms · round trip ${roundTrip.toFixed(0)} ms`;
    $("command").textContent = r.command || "";
    image.title = `${r.width}×${r.height}`;
    const chips = $("top-channels");
    chips.replaceChildren();
    if (r.layer) {
      $("channel").max = String(r.layer.channels - 1);
      const current = int("channel", 0);
      for (const [channel, mean] of r.layer.top_channels || []) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = `${channel} (${Number(mean).toFixed(2)})`;
        b.title = `channel ${channel}, mean activation ${mean}`;
        b.dataset.channel = String(channel);
        if (channel === current && $("view-mode").value === "channel") b.classList.add("active");
        b.addEventListener("click", () => {
          $("channel").value = String(channel);
          $("view-mode").value = "channel";
          changed();
        });
        chips.appendChild(b);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------- the network
  function showNetwork(status) {
    const dl = $("network-info");
    dl.replaceChildren();
    const add = (k, v) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = v;
      dl.append(dt, dd);
    };
    if (info) {
      add("architecture", info.architecture);
      add("resolution", `${info.resolution}×${info.resolution}×${info.img_channels}`);
      add("z / w", `${info.z_dim} / ${info.w_dim}, ${info.num_ws} ws`);
      if (info.c_dim > 0) add("classes", String(info.c_dim));
      add("path", info.path);
      $("network-label").textContent = `${info.architecture} ${info.resolution}×${info.resolution} · ${info.path}`;
    } else {
      $("network-label").textContent = "no network";
    }
    const hint = $("hint");
    if (status) hint.textContent = status.hint || "";
    hint.hidden = !!info || !hint.textContent;
    if (status) {
      const ul = $("candidates");
      ul.replaceChildren();
      for (const c of status.candidates || []) {
        const li = document.createElement("li"), b = document.createElement("button");
        b.type = "button";
        b.textContent = c.label || c.path;
        b.title = c.path;
        b.addEventListener("click", () => openNetwork({ path: c.path }));
        li.appendChild(b);
        ul.appendChild(li);
      }
      $("candidates-label").hidden = ul.children.length === 0;
    }
    $("controls").disabled = !info;
  }

  function populate() {
    // Controls from INFO; a newly opened network starts at seed 0 with the default settings for its shape.
    const last = info.num_ws - 1;
    for (const id of ["mix-lo", "mix-hi", "edit-lo", "edit-hi"]) $(id).max = String(last);
    $("cutoff").max = String(info.num_ws);
    const fine = (info.groups || {}).fine || [];  // mixing starts with the fine styles (colours, texture)
    $("mix-lo").value = String(fine.length ? Math.min(...fine) : 0);
    $("mix-hi").value = String(fine.length ? Math.max(...fine) : last);
    $("edit-lo").value = "0";
    $("edit-hi").value = String(last);
    $("class-row").hidden = !(info.c_dim > 0);
    $("class").max = String(Math.max(info.c_dim - 1, 0));
    if (info.c_dim > 0 && int("class", 0) >= info.c_dim) $("class").value = "0";
    $("psi").disabled = !info.truncatable;
    $("cutoff").disabled = !info.truncatable;
    $("noise-mode").disabled = !info.has_noise;
    $("noise-strength").disabled = !info.has_noise;
    $("sec-sg3").hidden = !info.transformable;
    for (const b of document.querySelectorAll("[data-group]")) {
      const g = (info.groups || {})[b.dataset.group] || [];
      b.disabled = g.length === 0;
      b.title = g.length ? `w ${Math.min(...g)}..${Math.max(...g)}` : "empty for this network";
    }
    const select = $("layer");
    select.replaceChildren(new Option("output", "output"));
    for (const l of info.layers || []) {
      select.appendChild(new Option(`${l.name} · ${l.resolution}px · ${l.channels} ch`, l.name));
    }
    select.value = "output";
    $("channel").value = "0";
    $("top-channels").replaceChildren();
    $("dissection").replaceChildren();
    $("edits").replaceChildren();
    dirsets.length = 0;
    for (const d of info.directions || []) addDirset(d);
    clearProjection(false);
    latent.x = 0; latent.y = 0;
    $("seed").value = "0";
    drawPad();
    updateOutputs();
    updateLayerControls();
  }

  async function openNetwork(body, file) {
    setMessage("opening…");
    try {
      const result = file
        ? await api("POST", `/api/open_upload?filename=${encodeURIComponent(file.name)}`, file)
        : await api("POST", "/api/open", body);
      info = result;
      setMessage("");
      showNetwork(null);
      populate();
      changed();
    } catch (e) {
      setMessage(e.message);
    }
  }

  // ---------------------------------------------------------------------------------------------- latent pad
  const pad = $("latent-pad");
  function drawPad() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(pad.clientWidth * dpr)), h = Math.max(1, Math.round(pad.clientHeight * dpr));
    if (pad.width !== w || pad.height !== h) { pad.width = w; pad.height = h; }
    const ctx = pad.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    const unit = 100 * dpr, cx = w / 2, cy = h / 2;
    // integer points (seeds) of the plane around the current position; the centre is (x, y)
    ctx.strokeStyle = "#34373e";
    ctx.lineWidth = 1;
    ctx.fillStyle = "#8a8d96";
    ctx.font = `${10 * dpr}px system-ui, sans-serif`;
    const x0 = Math.floor(latent.x - cx / unit), x1 = Math.ceil(latent.x + cx / unit);
    const y0 = Math.floor(latent.y - cy / unit), y1 = Math.ceil(latent.y + cy / unit);
    for (let ix = x0; ix <= x1; ix++) {
      const px = Math.round(cx + (ix - latent.x) * unit) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, h); ctx.stroke();
    }
    for (let iy = y0; iy <= y1; iy++) {
      const py = Math.round(cy + (iy - latent.y) * unit) + 0.5;
      ctx.beginPath(); ctx.moveTo(0, py); ctx.lineTo(w, py); ctx.stroke();
    }
    for (let ix = x0; ix <= x1; ix++) {
      for (let iy = y0; iy <= y1; iy++) {
        const px = cx + (ix - latent.x) * unit, py = cy + (iy - latent.y) * unit;
        ctx.fillText(String(mod32(ix + 100 * iy)), px + 3 * dpr, py - 3 * dpr);
      }
    }
    ctx.strokeStyle = "#76b900";
    ctx.lineWidth = 2 * dpr;
    ctx.beginPath();
    ctx.arc(cx, cy, 5 * dpr, 0, 2 * Math.PI);
    ctx.moveTo(cx - 10 * dpr, cy); ctx.lineTo(cx - 6 * dpr, cy);
    ctx.moveTo(cx + 6 * dpr, cy); ctx.lineTo(cx + 10 * dpr, cy);
    ctx.stroke();
    $("latent-xy").textContent = `x ${latent.x.toFixed(2)}, y ${latent.y.toFixed(2)} · seed ≈ ${nearestSeed()}`;
  }

  let drag = null;
  pad.addEventListener("pointerdown", (e) => {
    if (!info) return;
    drag = { x: e.clientX, y: e.clientY, lx: latent.x, ly: latent.y };
    pad.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drag) return;
    // drag right: x increases; drag down: y increases (1 unit per 100 CSS px)
    latent.x = drag.lx + (e.clientX - drag.x) / 100;
    latent.y = drag.ly + (e.clientY - drag.y) / 100;
    $("seed").value = String(nearestSeed());
    drawPad();
    changed();
  });
  const endDrag = () => { drag = null; };
  pad.addEventListener("pointerup", endDrag);
  pad.addEventListener("pointercancel", endDrag);
  pad.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
    if (!step || !info) return;
    e.preventDefault();
    latent.x = Math.round(latent.x) + step[0];
    latent.y = Math.round(latent.y) + step[1];
    $("seed").value = String(nearestSeed());
    drawPad();
    changed();
  });
  window.addEventListener("resize", drawPad);

  function setSeed(seed) {
    latent.x = seed; latent.y = 0;
    $("seed").value = String(seed);
    drawPad();
  }

  // ----------------------------------------------------------------------------------------------- directions
  function addDirset(d) {
    const existing = dirsets.findIndex((x) => x.id === d.id);
    if (existing >= 0) {
      dirsets.splice(existing, 1);
      const old = document.querySelector(`#edits .dirset[data-set="${CSS.escape(d.id)}"]`);
      if (old) old.remove();
    }
    dirsets.push(d);
    const box = document.createElement("div");
    box.className = "dirset";
    box.dataset.set = d.id;
    const title = document.createElement("div");
    title.className = "dirset-title";
    title.textContent = `${d.label || d.id} · ${d.method} · ${d.count}` + (d.layers ? ` · w ${d.layers[0]}..${d.layers[1]}` : "");
    box.appendChild(title);
    for (let k = 0; k < d.count; k++) {
      const row = document.createElement("div");
      row.className = "edit-row";
      const id = `edit-${d.id}-${k}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = `#${k}`;
      const slider = document.createElement("input");
      Object.assign(slider, { type: "range", min: "-5", max: "5", step: "0.1", value: "0", id });
      slider.className = "edit-slider";
      slider.dataset.set = d.id;
      slider.dataset.index = String(k);
      slider.title = d.has_stddev ? "strength in standard deviations" : "strength in w units";
      const out = document.createElement("output");
      out.htmlFor = id;
      out.textContent = "0.0";
      slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(1); changed(); });
      slider.addEventListener("dblclick", () => { slider.value = "0"; out.textContent = "0.0"; changed(); });
      row.append(label, slider, out);
      box.appendChild(row);
    }
    $("edits").appendChild(box);
    if (d.layers && info) {
      $("edit-lo").value = String(d.layers[0]);
      $("edit-hi").value = String(d.layers[1]);
    }
  }

  $("compute-directions").addEventListener("click", async () => {
    const button = $("compute-directions");
    button.disabled = true;
    setMessage("computing directions…");
    try {
      const d = await api("POST", "/api/directions", { method: $("direction-method").value, count: int("direction-count", 8) });
      setMessage("");
      addDirset(d);
      changed();
    } catch (e) {
      setMessage(e.message);
    } finally {
      button.disabled = false;
    }
  });

  $("directions-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const d = await api("POST", `/api/directions_upload?filename=${encodeURIComponent(file.name)}`, file);
      setMessage("");
      addDirset(d);
      changed();
    } catch (err) {
      setMessage(err.message);
    } finally {
      e.target.value = "";
    }
  });

  $("edit-reset").addEventListener("click", () => {
    for (const s of document.querySelectorAll("#edits .edit-slider")) {
      s.value = "0";
      s.nextElementSibling.textContent = "0.0";
    }
    changed();
  });

  // ---------------------------------------------------------------------------------------------- projection
  function clearProjection(render = true) {
    if (projectPoll) { clearTimeout(projectPoll.timer); projectPoll = null; }
    const wasSet = projection !== null;
    projection = null;
    $("project-clear").disabled = true;
    $("project-start").disabled = false;
    if (!render) {
      $("project-progress").textContent = "";
      $("project-target").removeAttribute("src");
      $("project-image").removeAttribute("src");
    }
    if (render && wasSet) changed();
  }

  $("project-start").addEventListener("click", async () => {
    const file = $("project-file").files[0];
    if (!file) { setMessage("project: choose an image file first"); return; }
    clearProjection(false);
    const steps = int("project-steps", 200), wplus = $("project-wplus").checked ? 1 : 0;
    $("project-start").disabled = true;
    $("project-progress").textContent = "starting…";
    try {
      const { job } = await api("POST",
        `/api/project?steps=${steps}&w_plus=${wplus}&filename=${encodeURIComponent(file.name)}`, file,
        { contentType: file.type || "application/octet-stream" });
      setMessage("");
      projectPoll = { job, timer: null };
      poll(job);
    } catch (e) {
      setMessage(e.message);
      $("project-progress").textContent = "";
      $("project-start").disabled = false;
    }
  });

  async function poll(job) {
    if (!projectPoll || projectPoll.job !== job) return;
    let p;
    try {
      p = await api("GET", `/api/project/${encodeURIComponent(job)}`);
    } catch (e) {
      setMessage(e.message);
      $("project-start").disabled = false;
      projectPoll = null;
      return;
    }
    if (!projectPoll || projectPoll.job !== job) return;
    const dist = p.dist === null || p.dist === undefined ? "" : ` · dist ${Number(p.dist).toFixed(4)}`;
    $("project-progress").textContent = `step ${p.step}/${p.steps}${dist}${p.done ? " · done" : ""}`;
    if (p.target && $("project-target").getAttribute("src") !== p.target) $("project-target").src = p.target;
    if (p.image) $("project-image").src = p.image;
    if (p.error) {
      setMessage(p.error);
      $("project-start").disabled = false;
      projectPoll = null;
      return;
    }
    if (p.done) {
      projectPoll = null;
      projection = job;
      $("project-clear").disabled = false;
      $("project-start").disabled = false;
      changed();
      return;
    }
    projectPoll.timer = setTimeout(() => poll(job), 300);
  }

  $("project-clear").addEventListener("click", () => clearProjection(true));

  // ------------------------------------------------------------------------------------------------ dissection
  $("dissect").addEventListener("click", async () => {
    const layer = $("layer").value;
    if (layer === "output") { setMessage("dissect: pick a layer first"); return; }
    const button = $("dissect");
    button.disabled = true;
    const box = $("dissection");
    box.replaceChildren();
    setMessage("dissecting…");
    try {
      const state = buildState();
      state.request = requestCounter;
      const r = await api("POST", "/api/dissect",
        { state, layer, channel: int("channel", 0), samples: int("dissect-samples", 64), top: 8 });
      setMessage("");
      for (const item of r.items) {
        const div = document.createElement("div");
        div.className = "thumb";
        div.title = `seed ${item.seed}: mean activation ${item.score} (click: show this seed)`;
        div.dataset.seed = String(item.seed);
        const pair = document.createElement("div");
        pair.className = "pair";
        const a = new Image(), b = new Image();
        a.src = item.image; b.src = item.heatmap;
        a.className = "thumbs-img"; b.className = "thumbs-img";
        pair.append(a, b);
        const caption = document.createElement("div");
        caption.textContent = `seed ${item.seed} · ${Number(item.score).toFixed(2)}`;
        div.append(pair, caption);
        div.addEventListener("click", () => { clearProjection(false); setSeed(item.seed); changed(); });
        box.appendChild(div);
      }
    } catch (e) {
      setMessage(e.message);
    } finally {
      button.disabled = false;
      updateLayerControls();
    }
  });

  // ------------------------------------------------------------------------------------------------ controls
  function updateOutputs() {
    $("psi-value").textContent = num("psi").toFixed(2);
    $("noise-strength-value").textContent = num("noise-strength").toFixed(2);
    $("translate-x-value").textContent = num("translate-x").toFixed(2);
    $("translate-y-value").textContent = num("translate-y").toFixed(2);
    $("rotate-value").textContent = String(num("rotate"));
  }

  function updateLayerControls() {
    const isOutput = $("layer").value === "output";
    $("view-mode").disabled = isOutput;
    $("channel").disabled = isOutput || $("view-mode").value !== "channel";
    $("dissect").disabled = isOutput;
    if (!isOutput && info) {
      const l = (info.layers || []).find((x) => x.name === $("layer").value);
      if (l) {
        $("channel").max = String(l.channels - 1);
        if (int("channel", 0) >= l.channels) $("channel").value = "0";
      }
    }
    if (isOutput) $("top-channels").replaceChildren();
  }

  // Every control marked data-render re-renders on input (sliders: while dragging).
  function onControlInput(e) {
    const t = e.currentTarget;
    if (t.id === "seed") {
      const s = int("seed");
      if (s === null) return;   // half-typed
      clearProjection(false);
      latent.x = mod32(s); latent.y = 0;
      drawPad();
    }
    if (t.id === "layer" || t.id === "view-mode") updateLayerControls();
    updateOutputs();
    changed();
  }
  for (const control of document.querySelectorAll("[data-render]")) control.addEventListener("input", onControlInput);

  $("random").addEventListener("click", () => {
    clearProjection(false);
    setSeed(Math.floor(Math.random() * 4294967296));
    changed();
  });

  for (const b of document.querySelectorAll("[data-group]")) {
    b.addEventListener("click", () => {
      const g = info && (info.groups || {})[b.dataset.group];
      if (!g || g.length === 0) return;
      $("mix-lo").value = String(Math.min(...g));
      $("mix-hi").value = String(Math.max(...g));
      $("mix-enable").checked = true;
      changed();
    });
  }

  $("open-network").addEventListener("click", () => {
    const path = $("network-path").value.trim();
    if (!path) { setMessage("open: type the path of a network file, snapshot, run directory or URL"); return; }
    openNetwork({ path });
  });
  $("network-path").addEventListener("keydown", (e) => { if (e.key === "Enter") $("open-network").click(); });
  $("network-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) openNetwork(null, file).finally(() => { e.target.value = ""; });
  });

  // ---------------------------------------------------------------------------------------------------- export
  $("export-png").addEventListener("click", () => {
    if (!image.getAttribute("src")) { setMessage("nothing to save yet"); return; }
    const view = window.studio.state && window.studio.state.view;
    const suffix = view && view.layer !== "output" ? `-${view.layer}` : "";
    const name = projection ? `projection${suffix}.png` : `seed${nearestSeed()}${suffix}.png`;
    download(image.src, name);
  });

  $("export-w").addEventListener("click", async () => {
    if (!info) return;
    try {
      const state = buildState();
      state.request = requestCounter;
      const response = await api("POST", "/api/export_w", state, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      download(url, "w.npz");
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setMessage("");
    } catch (e) {
      setMessage(e.message);
    }
  });

  $("copy-command").addEventListener("click", async () => {
    const text = $("command").textContent;
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {   // no clipboard API (e.g. plain http from another host): select it for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents($("command"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try { document.execCommand("copy"); } catch (e2) { /* selected, at least */ }
    }
  });

  // ---------------------------------------------------------------------------------------------------- start
  async function start() {
    updateOutputs();
    updateLayerControls();
    drawPad();
    let status;
    try {
      status = await api("GET", "/api/status");
    } catch (e) {
      setMessage(e.message);
      showNetwork(null);
      return;
    }
    info = status.network;
    showNetwork(status);
    if (info) {
      populate();
      changed();
    }
  }
  start();
})();
