/* Operators' dashboard: live alerts and camera health over /ws/alerts/, reviews through the REST API.
 *
 * The websocket carries the state (snapshot on connect, then alert.created / alert.updated /
 * camera.status / heartbeat); a review is a POST to the API, whose result every open dashboard
 * receives as alert.updated. Server data reaches the page as text only (textContent), never as HTML.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const MAX_ALERTS = 300; // in memory and in the page; older ones leave the feed
  const SNAPSHOT_REFRESH_MS = 2000; // camera images, while the camera is online and the tab visible
  const STATS_REFRESH_MS = 60000;
  const REVIEW_LABELS = Object.fromEntries(config.reviews);
  const SEVERITY_LABELS = Object.fromEntries(config.severities);
  const OPEN = new Set(["new", "acknowledged"]);

  const state = {
    alerts: new Map(), // id -> alert JSON (the API's shape)
    elements: new Map(), // id -> <li>
    cameras: new Map(), // id -> camera status JSON
    tiles: new Map(), // id -> tile element
    live: {}, // camera id -> live counters
    filters: loadFilters(),
    selected: null,
    ws: null,
    retries: 0,
    lastMessage: 0,
    heartbeatS: config.heartbeatS,
    soundOn: localStorage.getItem("dashboard.sound") === "on",
    clockSkewMs: 0,
  };

  const $ = (id) => document.getElementById(id);
  const list = $("alerts");

  // -- small helpers -----------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function loadFilters() {
    const defaults = { camera: "", minSeverity: "1", review: "open", rule: "" };
    try {
      return Object.assign(defaults, JSON.parse(localStorage.getItem("dashboard.filters") || "{}"));
    } catch (e) {
      return defaults;
    }
  }

  function saveFilters() {
    localStorage.setItem("dashboard.filters", JSON.stringify(state.filters));
  }

  function toast(message, kind, action) {
    const node = el("div", { class: "toast" + (kind === "error" ? " error" : "") }, message);
    if (action) {
      const button = el("button", { class: "btn btn-ghost toast-action", type: "button" }, action.label);
      button.addEventListener("click", () => {
        node.remove();
        action.run();
      });
      node.append(button);
    }
    $("toasts").append(node);
    setTimeout(() => node.remove(), kind === "error" || action ? 8000 : 4000);
  }

  function relative(iso) {
    const seconds = Math.max(0, (Date.now() + state.clockSkewMs - new Date(iso).getTime()) / 1000);
    if (seconds < 10) return "just now";
    if (seconds < 60) return Math.floor(seconds) + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function clock(iso) {
    const d = new Date(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  const UNITS = [
    ["_kmh", "km/h"],
    ["_mps2", "m/s²"],
    ["_mps", "m/s"],
    ["_m", "m"],
    ["_s", "s"],
  ];
  const NAMES = { ttc: "time to collision", max_speed: "max speed", from_speed: "from", min_headway: "min headway" };

  function describeMeasurement(key, value) {
    let name = key;
    let unit = "";
    for (const [suffix, u] of UNITS) {
      if (key.endsWith(suffix)) {
        name = key.slice(0, -suffix.length);
        unit = u;
        break;
      }
    }
    name = NAMES[name] || name.replace(/_/g, " ");
    let text = value;
    if (typeof value === "number") text = Math.abs(value) >= 100 ? Math.round(value) : Number(value.toFixed(2));
    else if (typeof value === "object" && value !== null) text = JSON.stringify(value);
    return [name, unit ? `${text} ${unit}` : String(text)];
  }

  function measurement(key, value) {
    const [name, text] = describeMeasurement(key, value);
    return el("li", {}, el("b", {}, name), text);
  }

  // -- alerts ------------------------------------------------------------------------------------
  function visible(alert) {
    const f = state.filters;
    if (f.camera && String(alert.camera) !== String(f.camera)) return false;
    if (alert.severity < Number(f.minSeverity)) return false;
    if (f.rule && alert.event_type !== f.rule) return false;
    if (f.review === "open") return OPEN.has(alert.review_status);
    if (f.review !== "all") return alert.review_status === f.review;
    return true;
  }

  function newer(a, b) {
    // Newest first: by detection time, then id.
    const ta = Date.parse(a.detected_at);
    const tb = Date.parse(b.detected_at);
    return ta !== tb ? ta > tb : a.id > b.id;
  }

  function fillAlert(node, alert) {
    node.id = "alert-" + alert.id;
    node.dataset.id = alert.id;
    node.dataset.reviewStatus = alert.review_status;
    node.dataset.severity = alert.severity;
    node.className = `alert sev-${alert.severity} status-${alert.review_status}` +
      (OPEN.has(alert.review_status) ? "" : " reviewed") +
      (state.selected === alert.id ? " selected" : "") +
      (node.classList.contains("fresh") ? " fresh" : "");

    const thumb = node.querySelector(".thumb");
    const img = thumb.querySelector("img");
    if (alert.keyframe_url) {
      if (img.getAttribute("src") !== alert.keyframe_url) img.src = alert.keyframe_url;
      thumb.classList.remove("empty");
    } else {
      img.removeAttribute("src");
      thumb.classList.add("empty");
    }
    node.querySelector(".sev").textContent = SEVERITY_LABELS[alert.severity] || alert.severity_label;
    node.querySelector(".event").textContent = alert.event_label;
    node.querySelector(".camera").textContent = alert.camera_name;
    const verification = node.querySelector(".verification");
    verification.textContent = alert.verification_label +
      (alert.verification === "confirmed" ? ` · ${Math.round(alert.confidence * 100)} %` : "");
    verification.className = "verification v-" + alert.verification;
    const when = node.querySelector(".when");
    when.dateTime = alert.detected_at;
    when.title = new Date(alert.detected_at).toLocaleString();
    when.textContent = `${relative(alert.detected_at)} · ${clock(alert.detected_at)}`;
    const description = node.querySelector(".description");
    description.textContent = alert.description || "No description.";
    description.classList.toggle("note-only", alert.verification !== "confirmed" && alert.verification !== "rejected");

    const measurements = node.querySelector(".measurements");
    measurements.replaceChildren(...Object.entries(alert.measurements || {}).map(([k, v]) => measurement(k, v)));
    if (alert.risk_types && alert.risk_types.length > 1) {
      measurements.append(el("li", {}, el("b", {}, "risks"), alert.risk_types.join(", ").replace(/_/g, " ")));
    }

    const review = node.querySelector(".review");
    const parts = [el("span", { class: "state" }, alert.review_label)];
    if (alert.reviewed_by) parts.push(` by ${alert.reviewed_by}`);
    if (alert.reviewed_at) parts.push(` · ${clock(alert.reviewed_at)}`);
    if (alert.review_note) parts.push(` · “${alert.review_note}”`);
    review.replaceChildren(...parts);
    review.title = review.textContent;
    for (const button of node.querySelectorAll("button[data-action]")) {
      const active = button.dataset.action === alert.review_status;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", active ? "true" : "false");
    }
  }

  function alertNode(alert) {
    let node = state.elements.get(alert.id);
    if (!node) {
      node = $("alert-template").content.firstElementChild.cloneNode(true);
      node.addEventListener("click", onAlertClick);
      state.elements.set(alert.id, node);
    }
    fillAlert(node, alert);
    return node;
  }

  function insertInOrder(node, alert) {
    for (const other of list.children) {
      const existing = state.alerts.get(Number(other.dataset.id));
      if (existing && existing.id !== alert.id && newer(alert, existing)) {
        list.insertBefore(node, other);
        return;
      }
    }
    list.append(node);
  }

  function upsert(alert, { fresh = false } = {}) {
    const known = state.alerts.has(alert.id);
    state.alerts.set(alert.id, alert);
    const node = alertNode(alert);
    if (!known) {
      if (fresh) {
        node.classList.add("fresh");
        node.dataset.receivedMs = String(Date.now());
      }
      insertInOrder(node, alert);
    }
    node.hidden = !visible(alert);
    trim();
    // The clip of the alert on view became ready (or unavailable), pushed or in a reconnect's snapshot:
    // the countdown gives way to the player.
    const box = $("lightbox");
    if (!box.hidden && Number(box.dataset.id) === alert.id && $("lb-player").dataset.clipStatus !== alert.clip_status) {
      window.EvidencePlayer.mount($("lb-player"), alert);
    }
  }

  function trim() {
    while (state.alerts.size > MAX_ALERTS) {
      const last = list.lastElementChild;
      if (!last) break;
      const id = Number(last.dataset.id);
      state.alerts.delete(id);
      state.elements.delete(id);
      last.remove();
    }
  }

  function replaceAll(alerts) {
    state.alerts.clear();
    state.elements.clear();
    list.replaceChildren();
    for (const alert of alerts) upsert(alert);
    refreshSummary();
  }

  function applyFilters() {
    for (const [id, node] of state.elements) node.hidden = !visible(state.alerts.get(id));
    refreshSummary();
    for (const [id, tile] of state.tiles) tile.classList.toggle("filtered", String(id) === String(state.filters.camera));
  }

  function visibleIds(predicate) {
    const ids = [];
    for (const node of list.children) {
      const alert = state.alerts.get(Number(node.dataset.id));
      if (!node.hidden && alert && (!predicate || predicate(alert))) ids.push(alert.id);
    }
    return ids;
  }

  function refreshSummary() {
    const shown = visibleIds();
    $("feed-empty").hidden = shown.length > 0;
    let open = 0;
    const criticalNew = [];
    const openByCamera = new Map();
    for (const alert of state.alerts.values()) {
      if (OPEN.has(alert.review_status)) {
        open += 1;
        openByCamera.set(alert.camera, (openByCamera.get(alert.camera) || 0) + 1);
      }
      if (alert.severity === 4 && alert.review_status === "new") criticalNew.push(alert);
    }
    $("counts").replaceChildren(
      el("span", {}, "Shown ", el("b", {}, shown.length)),
      el("span", {}, "Open ", el("b", {}, open)),
      el("span", { class: "crit" }, "Critical, new ", el("b", {}, criticalNew.length)),
    );
    for (const [id, tile] of state.tiles) {
      const count = openByCamera.get(id) || 0;
      tile.querySelector(".cam-open").textContent = count ? `${count} open` : "";
      tile.classList.toggle("has-critical", criticalNew.some((a) => a.camera === id));
    }
    const banner = $("critical-banner");
    if (criticalNew.length) {
      criticalNew.sort((a, b) => (newer(a, b) ? -1 : 1));
      const names = [...new Set(criticalNew.map((a) => a.camera_name))].join(", ");
      $("critical-text").textContent =
        `${criticalNew.length} critical alert${criticalNew.length > 1 ? "s" : ""} awaiting review (${names})`;
      banner.dataset.target = criticalNew[0].id;
      banner.hidden = false;
      document.title = `(${criticalNew.length}) ‼ Live alerts · Traffic safety`;
    } else {
      banner.hidden = true;
      document.title = "Live alerts · Traffic safety";
    }
  }

  // -- review --------------------------------------------------------------------------------------
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": config.csrfToken, Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail || Object.values(data).flat().join(" ") || response.statusText;
      throw new Error(`${response.status}: ${detail}`);
    }
    return data;
  }

  async function review(id, status, { undoable = true } = {}) {
    const node = state.elements.get(id);
    if (!node) return;
    const before = state.alerts.get(id).review_status;
    if (before === status) return;
    const note = node.querySelector("input.note");
    const buttons = node.querySelectorAll("button[data-action]");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const updated = await post(config.api.review.replace("/0/", `/${id}/`), { status, note: note.value.trim() });
      note.value = "";
      if (state.selected === id && !visible(updated)) moveSelection(1); // keep a selection for the keyboard
      upsert(updated); // the broadcast brings the same state to every other dashboard
      refreshSummary();
      if (undoable && !visible(updated)) {
        // The card left the view: say so, and offer the way back.
        toast(`#${id} ${updated.event_label} (${updated.camera_name}) marked ${updated.review_label.toLowerCase()}.`,
          "info", { label: "Undo", run: () => review(id, before, { undoable: false }) });
      }
    } catch (error) {
      toast(`Could not mark alert #${id}: ${error.message}`, "error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  async function acknowledgeAllShown() {
    const ids = visibleIds((a) => a.review_status === "new");
    if (!ids.length) {
      toast("No new alerts shown.");
      return;
    }
    if (!window.confirm(`Acknowledge ${ids.length} new alert(s) shown?`)) return;
    try {
      const result = await post(config.api.reviewMany, { ids, status: "acknowledged" });
      toast(`Acknowledged ${result.updated} alert(s).`);
    } catch (error) {
      toast(`Could not acknowledge: ${error.message}`, "error");
    }
  }

  function onAlertClick(event) {
    const node = event.currentTarget;
    const id = Number(node.dataset.id);
    select(id, false);
    const action = event.target.closest("button[data-action]");
    if (action) {
      review(id, action.dataset.action);
    } else if (event.target.closest(".thumb")) {
      openEvidence(id);
    }
  }

  function select(id, scroll) {
    if (state.selected !== null && state.elements.get(state.selected)) {
      state.elements.get(state.selected).classList.remove("selected");
    }
    state.selected = id;
    const node = state.elements.get(id);
    if (node) {
      node.classList.add("selected");
      if (scroll) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  function moveSelection(step) {
    const ids = visibleIds();
    if (!ids.length) return;
    const index = ids.indexOf(state.selected);
    const next = index < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, index + step));
    select(ids[next], true);
  }

  // -- evidence ------------------------------------------------------------------------------------
  function openEvidence(id) {
    const alert = state.alerts.get(id);
    if (!alert) return;
    $("lb-title").textContent = `${alert.severity_label} · ${alert.event_label} · ${alert.camera_name} · #${alert.id}`;
    window.EvidencePlayer.mount($("lb-player"), alert);
    const keyframe = $("lb-keyframe");
    if (alert.keyframe_url) keyframe.src = alert.keyframe_url;
    else keyframe.removeAttribute("src");
    $("lb-crop-fig").hidden = !alert.crop_url;
    if (alert.crop_url) $("lb-crop").src = alert.crop_url;
    const rows = [
      ["Description", alert.description || "—"],
      ["Verification", `${alert.verification_label} (confidence ${Math.round(alert.confidence * 100)} %)`],
      ["Risk types", (alert.risk_types || []).join(", ").replace(/_/g, " ") || "—"],
      ["Event started", new Date(alert.event_started_at).toLocaleString()],
      ["Detected", new Date(alert.detected_at).toLocaleString()],
      ["Tracks", (alert.track_ids || []).join(", ") || "—"],
      ["Measurements", Object.entries(alert.measurements || {}).map(([k, v]) => describeMeasurement(k, v).join(" ")).join(" · ") || "—"],
      ["Review", alert.review_label + (alert.reviewed_by ? ` by ${alert.reviewed_by}` : "") +
        (alert.review_note ? ` — “${alert.review_note}”` : "")],
    ];
    const details = $("lb-details");
    details.replaceChildren();
    for (const [term, value] of rows) details.append(el("dt", {}, term), el("dd", {}, value));
    details.append(
      el("dt", {}, "Admin"),
      el("dd", {}, el("a", { href: config.adminAlertUrl.replace("/0/", `/${alert.id}/`) }, "Open in the admin")),
    );
    $("lightbox").hidden = false;
    $("lightbox").dataset.id = alert.id;
    $("lb-close").focus();
  }

  function closeEvidence() {
    window.EvidencePlayer.unmount($("lb-player"));
    $("lightbox").hidden = true;
  }

  // -- cameras -------------------------------------------------------------------------------------
  function cameraTile(camera) {
    let tile = state.tiles.get(camera.id);
    if (!tile) {
      tile = $("camera-template").content.firstElementChild.cloneNode(true);
      tile.dataset.id = camera.id;
      tile.id = "camera-" + camera.id;
      tile.addEventListener("click", () => {
        const chosen = String(state.filters.camera) === String(camera.id) ? "" : String(camera.id);
        $("f-camera").value = chosen;
        onFilterChange();
      });
      const img = tile.querySelector("img");
      img.addEventListener("load", () => tile.querySelector(".cam-image").classList.remove("empty"));
      img.addEventListener("error", () => tile.querySelector(".cam-image").classList.add("empty"));
      state.tiles.set(camera.id, tile);
      $("cameras").append(tile);
    }
    tile.className = `camera-tile st-${camera.status}` + (camera.enabled ? "" : " disabled") +
      (String(state.filters.camera) === String(camera.id) ? " filtered" : "");
    tile.dataset.status = camera.status;
    tile.querySelector(".cam-name").textContent = camera.name;
    const since = camera.status_changed_at ? ` since ${clock(camera.status_changed_at)}` : "";
    tile.querySelector(".cam-status").textContent = camera.enabled
      ? camera.status_label + since + (camera.reconnect_count ? ` · ${camera.reconnect_count} reconnects` : "")
      : "Disabled";
    tile.querySelector(".cam-error").textContent = camera.status === "online" ? "" : camera.last_error || "";
    tile.querySelector(".cam-error").title = camera.last_error || "";
    fillLive(tile, camera);
    return tile;
  }

  function fillLive(tile, camera) {
    const live = state.live[camera.id];
    const line = tile.querySelector(".cam-live");
    if (!live || camera.status !== "online") {
      line.textContent = camera.enabled && camera.status === "online" ? "Waiting for live counters…" : "";
      return;
    }
    const counts = Object.entries(live.counts || {}).map(([cls, n]) => `${n} ${cls}`).join(", ");
    line.textContent = `${live.fps_in} fps in · ${live.fps_detected} detected · ${live.tracks} tracked` +
      (counts ? ` (${counts})` : "") + (live.dropped ? ` · ${live.dropped} dropped` : "");
  }

  function setCameras(cameras) {
    const seen = new Set();
    for (const camera of cameras) {
      state.cameras.set(camera.id, camera);
      cameraTile(camera);
      seen.add(camera.id);
    }
    for (const [id, tile] of state.tiles) {
      if (!seen.has(id)) {
        tile.remove();
        state.tiles.delete(id);
        state.cameras.delete(id);
      }
    }
    $("cameras-empty").hidden = state.cameras.size > 0;
    const select = $("f-camera");
    const current = state.filters.camera;
    select.replaceChildren(el("option", { value: "" }, "All cameras"));
    for (const camera of [...state.cameras.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      select.append(el("option", { value: String(camera.id) }, camera.name));
    }
    select.value = current;
    refreshSnapshots();
  }

  function refreshSnapshots() {
    if (document.hidden) return;
    const now = Date.now();
    for (const [id, tile] of state.tiles) {
      const camera = state.cameras.get(id);
      const image = tile.querySelector(".cam-image");
      if (!camera || !camera.enabled || camera.status !== "online") {
        image.classList.add("empty");
        continue;
      }
      tile.querySelector("img").src = config.snapshotUrl.replace("/0/", `/${id}/`) + "?t=" + now;
    }
  }

  // -- statistics ----------------------------------------------------------------------------------
  let statsTimer = null;
  function scheduleStats(delay) {
    clearTimeout(statsTimer);
    statsTimer = setTimeout(loadStats, delay);
  }

  function rateCell(row) {
    if (row.false_positive_rate === null) return el("td", {}, "—");
    const pct = Math.round(row.false_positive_rate * 100);
    const bar = el("span", { class: "rate-bar" });
    bar.style.width = Math.max(2, pct * 0.6) + "px";
    return el("td", { class: pct >= 50 ? "rate-high" : "" }, bar, `${pct} %`);
  }

  function rateTable(caption, rows, label) {
    const table = el("table", { class: "rates" }, el("caption", {}, caption));
    table.append(el("tr", {}, el("th", {}, ""), el("th", {}, "alerts"), el("th", {}, "judged"), el("th", {}, "false pos."),
      el("th", {}, "rate")));
    for (const row of rows) {
      table.append(el("tr", {}, el("td", {}, label(row)), el("td", {}, row.total), el("td", {}, row.judged),
        el("td", {}, row.false_positive), rateCell(row)));
    }
    if (!rows.length) table.append(el("tr", {}, el("td", { colspan: "5" }, "Nothing reviewed yet.")));
    return table;
  }

  async function loadStats() {
    try {
      const response = await fetch(config.api.stats + "?days=30", { credentials: "same-origin" });
      if (!response.ok) throw new Error(response.status);
      const stats = await response.json();
      const ruleName = Object.fromEntries(config.eventTypes);
      const pairs = stats.per_camera_rule.filter((r) => r.judged > 0).slice(0, 8);
      $("stats").replaceChildren(
        rateTable("Per camera", stats.per_camera, (r) => r.camera_name),
        rateTable("Per rule", stats.per_rule, (r) => ruleName[r.event_type] || r.event_type),
        rateTable("Worst camera × rule pairs", pairs, (r) => `${r.camera_name} · ${ruleName[r.event_type] || r.event_type}`),
      );
    } catch (error) {
      $("stats").replaceChildren(el("p", { class: "hint" }, "Statistics unavailable right now."));
    }
    scheduleStats(STATS_REFRESH_MS);
  }

  // -- sound ---------------------------------------------------------------------------------------
  let audio = null;
  function beep() {
    if (!state.soundOn) return;
    try {
      audio = audio || new AudioContext();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.25, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.6);
    } catch (e) {
      /* no audio device: the banner still shows */
    }
  }

  function showSound() {
    const button = $("sound-toggle");
    button.textContent = state.soundOn ? "Sound on" : "Sound off";
    button.setAttribute("aria-pressed", state.soundOn ? "true" : "false");
  }

  // -- websocket -----------------------------------------------------------------------------------
  function setConnection(kind, text) {
    const node = $("connection");
    node.className = "conn conn-" + kind;
    node.querySelector(".conn-text").textContent = text;
  }

  function subscription() {
    return {
      type: "subscribe",
      cameras: state.filters.camera ? [Number(state.filters.camera)] : [],
      min_severity: Number(state.filters.minSeverity),
      limit: config.backlog,
    };
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ min_severity: state.filters.minSeverity, limit: config.backlog });
    if (state.filters.camera) query.set("camera", state.filters.camera);
    const ws = new WebSocket(`${scheme}//${location.host}${config.wsPath}?${query}`);
    state.ws = ws;
    setConnection("connecting", state.retries ? "Reconnecting…" : "Connecting…");
    ws.onopen = () => {
      state.lastMessage = Date.now();
    };
    ws.onmessage = (event) => {
      state.lastMessage = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(message);
    };
    let heard = false;
    ws.addEventListener("message", () => (heard = true), { once: true });
    ws.onclose = async () => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!heard && (await loggedOut())) {
        setConnection("down", "Logged out");
        location.reload(); // the page itself sends the browser to the login form
        return;
      }
      const delay = Math.min(15000, 1000 * 2 ** state.retries) * (0.75 + Math.random() * 0.5);
      state.retries += 1;
      setConnection("down", `Disconnected, retrying in ${Math.round(delay / 1000)} s`);
      setTimeout(connect, delay);
    };
  }

  // A refused handshake looks like any dropped connection to a browser: ask the page whether the
  // session is still valid (a redirect to the login form says it is not).
  async function loggedOut() {
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin", redirect: "manual" });
      return response.type === "opaqueredirect";
    } catch (e) {
      return false; // the server is unreachable: keep retrying
    }
  }

  // The header's p95 of how late alerts arrived in the last hour (capture of the frame to the push).
  function showAlertDelay(delay) {
    if (!delay || !("count" in delay)) return; // the server could not read it: keep the last value
    const text = delay.count ? `${delay.p95_s.toFixed(1)} s (${delay.count} alerts)` : "no alerts";
    document.getElementById("alert-delay").textContent = `Alert delay p95 (1 h): ${text}`;
  }

  function handle(message) {
    switch (message.type) {
      case "hello":
        state.heartbeatS = message.heartbeat_s;
        break;
      case "snapshot":
        if (state.retries) toast("Connection restored.");
        state.retries = 0;
        setConnection("live", "Live");
        state.live = message.live || {};
        showAlertDelay(message.alert_delay);
        setCameras(message.cameras);
        replaceAll(message.alerts);
        break;
      case "alert.created": {
        const isNew = !state.alerts.has(message.alert.id);
        upsert(message.alert, { fresh: true });
        refreshSummary();
        if (isNew && message.alert.severity === 4) beep();
        scheduleStats(2000);
        break;
      }
      case "alert.updated":
        for (const alert of message.alerts) {
          if (state.alerts.has(alert.id)) upsert(alert);
        }
        refreshSummary();
        scheduleStats(2000);
        break;
      case "camera.status": {
        const camera = message.camera;
        const before = state.cameras.get(camera.id);
        state.cameras.set(camera.id, camera);
        cameraTile(camera);
        if (before && before.status !== camera.status && camera.status !== "online" && camera.enabled) {
          toast(`Camera ${camera.name}: ${camera.status_label}${camera.last_error ? " — " + camera.last_error : ""}`,
            camera.status === "error" ? "error" : "info");
        }
        break;
      }
      case "heartbeat":
        state.clockSkewMs = message.time * 1000 - Date.now();
        showAlertDelay(message.alert_delay);
        state.live = message.live || {};
        for (const [id, tile] of state.tiles) fillLive(tile, state.cameras.get(id));
        break;
      case "error":
        toast("Server: " + message.error, "error");
        break;
      default:
        break;
    }
  }

  // A socket that has heard nothing for three heartbeats is dead even if the browser has not noticed.
  setInterval(() => {
    const ws = state.ws;
    if (ws && ws.readyState === WebSocket.OPEN && Date.now() - state.lastMessage > state.heartbeatS * 3000) {
      ws.close();
    }
  }, 1000);

  // -- filters and keys --------------------------------------------------------------------------
  function onFilterChange() {
    const before = { ...state.filters };
    state.filters.camera = $("f-camera").value;
    state.filters.minSeverity = $("f-severity").value;
    state.filters.review = $("f-review").value;
    state.filters.rule = $("f-rule").value;
    saveFilters();
    const serverSide = before.camera !== state.filters.camera || before.minSeverity !== state.filters.minSeverity;
    if (serverSide && state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(subscription())); // answered by a fresh snapshot
    }
    applyFilters();
  }

  function setupControls() {
    const severity = $("f-severity");
    for (const [value, label] of config.severities) {
      severity.append(el("option", { value: String(value) }, value === 1 ? "Any" : `${label} or worse`));
    }
    const rule = $("f-rule");
    for (const [value, label] of config.eventTypes) rule.append(el("option", { value }, label));
    severity.value = state.filters.minSeverity;
    $("f-review").value = state.filters.review;
    rule.value = state.filters.rule;
    for (const id of ["f-camera", "f-severity", "f-review", "f-rule"]) $(id).addEventListener("change", onFilterChange);
    $("ack-all").addEventListener("click", acknowledgeAllShown);
    $("sound-toggle").addEventListener("click", () => {
      state.soundOn = !state.soundOn;
      localStorage.setItem("dashboard.sound", state.soundOn ? "on" : "off");
      showSound();
      if (state.soundOn) beep();
    });
    showSound();
    $("critical-show").addEventListener("click", () => {
      const id = Number($("critical-banner").dataset.target);
      if (!state.elements.get(id) || state.elements.get(id).hidden) {
        $("f-review").value = "open";
        $("f-severity").value = "1";
        onFilterChange();
      }
      select(id, true);
    });
    $("lb-close").addEventListener("click", closeEvidence);
    $("lightbox").addEventListener("click", (event) => {
      if (event.target === $("lightbox")) closeEvidence();
    });
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "Escape") return closeEvidence();
      const actions = { a: "acknowledged", c: "confirmed", f: "false_positive", r: "resolved" };
      if (!$("lightbox").hidden) {
        // Reviewing from the evidence view: act on the alert shown, then back to the list.
        if (!actions[event.key]) return;
        closeEvidence();
        review(Number($("lightbox").dataset.id), actions[event.key]);
        event.preventDefault();
        return;
      }
      if (event.key === "j" || event.key === "ArrowDown") moveSelection(1);
      else if (event.key === "k" || event.key === "ArrowUp") moveSelection(-1);
      else if (event.key === "Enter" && state.selected !== null) openEvidence(state.selected);
      else if (actions[event.key] && state.selected !== null) review(state.selected, actions[event.key]);
      else return;
      event.preventDefault();
    });
    document.addEventListener("visibilitychange", refreshSnapshots);
  }

  setupControls();
  connect();
  loadStats();
  setInterval(refreshSnapshots, SNAPSHOT_REFRESH_MS);
  setInterval(() => {
    for (const [id, node] of state.elements) {
      const alert = state.alerts.get(id);
      node.querySelector(".when").textContent = `${relative(alert.detected_at)} · ${clock(alert.detected_at)}`;
    }
  }, 15000);
})();
