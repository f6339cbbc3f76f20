/* Evidence clip player, shared by the dashboard's evidence view and the admin's alert page.
 *
 * EvidencePlayer.mount(container, alert) shows, from the alert's JSON (the API's shape): the clip
 * with the event's start and its detection marked on a timeline under it (click a mark to jump
 * there), and, on request, the tracked road users' boxes drawn over the video from the stored track
 * (GET track_url; never burned into the video). A pending clip shows a countdown ("Clip in 5 s"):
 * the dashboard mounts the alert again when the server pushes its update. Text only, no innerHTML.
 */
(function () {
  "use strict";

  const TRACK_MATCH_S = 0.3; // the overlay shows a stored frame's boxes this close to the video's time

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  }

  function unmount(container) {
    if (container._evidenceTimer) clearInterval(container._evidenceTimer);
    container._evidenceTimer = null;
    const video = container.querySelector("video");
    if (video) video.pause();
    container.replaceChildren();
  }

  function mount(container, alert) {
    unmount(container);
    container.dataset.clipStatus = alert.clip_status || "";
    if (alert.clip_status === "ready" && alert.clip_url) {
      container.append(player(alert));
    } else if (alert.clip_status === "pending") {
      const wait = el("p", { class: "clip-wait" });
      const tick = () => {
        const left = Math.ceil((Date.parse(alert.clip_expected_at) - Date.now()) / 1000);
        wait.textContent = left > 0 ? `Clip in ${left} s` : "Clip being cut…";
      };
      tick();
      container._evidenceTimer = setInterval(tick, 500);
      container.append(wait);
    } else {
      container.append(el("p", { class: "clip-none" }, "No clip: " + (alert.clip_note || "none was recorded.")));
    }
  }

  function player(alert) {
    const marks = alert.clip_marks || { event_start_s: 0, detection_s: 0 };
    const video = el("video", { controls: "", preload: "metadata", playsinline: "", muted: "", src: alert.clip_url });
    video.muted = true;
    const canvas = el("canvas", { class: "player-overlay", "aria-hidden": "true" });
    const stage = el("div", { class: "player-stage" }, video, canvas);
    const bar = el("div", { class: "player-marks", title: "Event start and detection" });
    const startMark = el("button", { type: "button", class: "mark mark-start", title: "Event starts" }, "start");
    const detectMark = el("button", { type: "button", class: "mark mark-detect", title: "Detected" }, "detected");
    const cursor = el("span", { class: "mark-cursor" });
    bar.append(startMark, detectMark, cursor);
    const toggle = el("input", { type: "checkbox", class: "overlay-toggle" });
    const caption = el("p", { class: "player-caption" },
      `Event starts at ${marks.event_start_s.toFixed(1)} s, detected at ${marks.detection_s.toFixed(1)} s` +
      (alert.clip_duration_s ? ` of ${alert.clip_duration_s.toFixed(1)} s` : "") +
      (alert.clip_note ? ` — ${alert.clip_note}` : ""));
    const wrap = el("div", { class: "player" }, stage, bar,
      el("label", { class: "overlay-label" }, toggle, " Show tracked boxes"), caption);

    let track = null;
    const place = () => {
      const duration = video.duration;
      if (!isFinite(duration) || duration <= 0) return;
      startMark.style.left = `${(100 * marks.event_start_s) / duration}%`;
      detectMark.style.left = `${(100 * marks.detection_s) / duration}%`;
      cursor.style.left = `${(100 * video.currentTime) / duration}%`;
    };
    const draw = () => {
      const context = canvas.getContext("2d");
      const width = (canvas.width = video.clientWidth);
      const height = (canvas.height = video.clientHeight);
      context.clearRect(0, 0, width, height);
      if (!toggle.checked || !track || !video.videoWidth) return;
      // The picture inside the element, letterboxed to keep its aspect.
      const scale = Math.min(width / video.videoWidth, height / video.videoHeight);
      const w = video.videoWidth * scale, h = video.videoHeight * scale;
      const x0 = (width - w) / 2, y0 = (height - h) / 2;
      const t = video.currentTime - marks.detection_s;
      let best = null;
      for (const frame of track) if (!best || Math.abs(frame.t - t) < Math.abs(best.t - t)) best = frame;
      if (!best || Math.abs(best.t - t) > TRACK_MATCH_S) return;
      context.lineWidth = 2;
      context.font = "12px sans-serif";
      for (const [id, cls, x1, y1, x2, y2] of best.boxes) {
        const involved = (alert.track_ids || []).includes(id);
        context.strokeStyle = context.fillStyle = involved ? "#ff3b30" : "#ffd60a";
        context.strokeRect(x0 + x1 * w, y0 + y1 * h, (x2 - x1) * w, (y2 - y1) * h);
        context.fillText(`${cls} #${id}`, x0 + x1 * w + 2, Math.max(12, y0 + y1 * h - 3));
      }
    };
    const frame = () => {
      place();
      draw();
      if (!video.paused && !video.ended) requestAnimationFrame(frame);
    };
    video.addEventListener("loadedmetadata", place);
    video.addEventListener("play", () => requestAnimationFrame(frame));
    video.addEventListener("seeked", frame);
    video.addEventListener("timeupdate", place);
    startMark.addEventListener("click", () => { video.currentTime = marks.event_start_s; });
    detectMark.addEventListener("click", () => { video.currentTime = marks.detection_s; });
    toggle.addEventListener("change", async () => {
      if (toggle.checked && !track && alert.track_url) {
        try {
          const response = await fetch(alert.track_url, { credentials: "same-origin" });
          track = response.ok ? (await response.json()).frames : [];
        } catch (e) {
          track = [];
        }
      }
      draw();
    });
    return wrap;
  }

  window.EvidencePlayer = { mount, unmount };
  // The admin's alert page: players whose alert JSON is in the page.
  document.addEventListener("DOMContentLoaded", () => {
    for (const node of document.querySelectorAll(".evidence-player[data-alert]")) {
      mount(node, JSON.parse(node.dataset.alert));
    }
  });
})();
