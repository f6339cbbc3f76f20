// Calibration and zone editor of the camera admin: clicks become normalized image points.
(function () {
  "use strict";
  const state = JSON.parse(document.getElementById("cal-settings").textContent);
  const cal = {image: (state.calibration.image_points || []).slice(), world: (state.calibration.world_points || []).slice()};
  const zones = (state.zones || []).slice();
  let pending = [];  // corners of the zone being drawn
  let flow = [];     // two points of the next lane's flow
  const frame = document.getElementById("cal-frame");
  const overlay = document.getElementById("cal-overlay");
  const message = document.getElementById("cal-message");
  const csrf = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "";
  }
  function round(v) { return Math.round(v * 10000) / 10000; }
  function payload() {
    const calibration = cal.image.length ? {image_points: cal.image, world_points: cal.world} : {};
    return JSON.stringify({calibration: calibration, zones: zones});
  }
  // Everything is built with createElement and textContent, never innerHTML: zone names and
  // numbers come from the stored settings, which another editor may have written.
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, String(v)));
    return el;
  }
  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, String(v)));
    return node;
  }
  function cell(child) {
    const td = document.createElement("td");
    td.append(child);
    return td;
  }
  function draw() {
    const shapes = [];
    cal.image.forEach(([x, y]) => shapes.push(svg("circle", {cx: x, cy: y, r: 0.008, fill: "red"})));
    pending.concat(flow).forEach(([x, y]) => shapes.push(svg("circle", {cx: x, cy: y, r: 0.006, fill: "orange"})));
    if (pending.length > 1) {
      shapes.push(svg("polyline", {points: pending.map((p) => p.join(",")).join(" "), fill: "none",
        stroke: "orange", "stroke-width": 0.004}));
    }
    overlay.replaceChildren(...shapes);
    const rows = cal.image.map(([x, y], i) => {
      const tr = document.createElement("tr");
      tr.append(el("td", i + 1), el("td", `${Number(x).toFixed(3)}, ${Number(y).toFixed(3)}`),
        cell(el("input", null, {"data-i": i, "data-c": 0, value: cal.world[i][0]})),
        cell(el("input", null, {"data-i": i, "data-c": 1, value: cal.world[i][1]})),
        cell(el("a", "remove", {href: "#", "data-remove": i})));
      return tr;
    });
    document.getElementById("cal-points").replaceChildren(...rows);
    const items = zones.map((z, i) => {
      const details = `${z.polygon.length} corners${z.flow ? ", flow" : ""}` +
        `${z.speed_limit_kmh ? ", " + z.speed_limit_kmh + " km/h" : ""}`;
      const li = el("li", `${z.kind} `);
      li.append(el("b", z.name), ` (${details}) `, el("a", "remove", {href: "#", "data-zone": i}));
      return li;
    });
    document.getElementById("zone-list").replaceChildren(...items);
  }
  frame.addEventListener("click", (event) => {
    const box = frame.getBoundingClientRect();
    const point = [round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)];
    const mode = document.querySelector("input[name=mode]:checked").value;
    if (mode === "calibration") { cal.image.push(point); cal.world.push([0, 0]); }
    if (mode === "zone") { pending.push(point); }
    if (mode === "flow") { flow = flow.length >= 2 ? [point] : flow.concat([point]); }
    draw();
  });
  document.getElementById("cal-points").addEventListener("input", (event) => {
    const el = event.target;
    cal.world[+el.dataset.i][+el.dataset.c] = parseFloat(el.value) || 0;
  });
  document.getElementById("cal-side").addEventListener("click", (event) => {
    const el = event.target;
    if (el.dataset.remove !== undefined) { cal.image.splice(+el.dataset.remove, 1); cal.world.splice(+el.dataset.remove, 1); }
    else if (el.dataset.zone !== undefined) { zones.splice(+el.dataset.zone, 1); }
    else { return; }
    event.preventDefault();
    draw();
  });
  document.getElementById("zone-add").addEventListener("click", () => {
    const name = document.getElementById("zone-name").value.trim();
    const kind = document.getElementById("zone-kind").value;
    const limit = parseFloat(document.getElementById("zone-limit").value);
    if (!name || pending.length < 3) { say("A zone needs a name and at least three corners.", true); return; }
    const zone = {name: name, kind: kind, polygon: pending};
    if (kind === "lane" && flow.length === 2) { zone.flow = flow; }
    if (limit > 0) { zone.speed_limit_kmh = limit; }
    zones.push(zone);
    pending = []; flow = [];
    say(`Zone ${name} added (not saved yet).`, false);
    draw();
  });
  document.getElementById("cal-clear").addEventListener("click", () => { pending = []; flow = []; draw(); });
  async function send(save) {
    const response = await fetch(window.location.pathname + (save ? "?save=1" : ""), {
      method: "POST", body: payload(), credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": decodeURIComponent(csrf)},
    });
    const data = await response.json();
    if (data.error) { say(data.error, true); return; }
    if (data.preview) { document.getElementById("cal-preview-img").src = data.preview; say("Preview updated.", false); }
    if (data.saved) { say("Saved. The camera's capture restarts with the new settings.", false); }
  }
  document.getElementById("cal-preview-btn").addEventListener("click", () => send(false));
  const saveButton = document.getElementById("cal-save");
  if (saveButton) { saveButton.addEventListener("click", () => send(true)); }
  draw();
})();
