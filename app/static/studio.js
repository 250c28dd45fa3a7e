() => {
  // PhysGen Studio page behaviour, run once on load (gr launch(js=...)).
  // Drive: keys -> the hidden #drive-key box + a click on the hidden #drive-send button. While a chunk
  // runs, presses are coalesced and sent when the readout updates: of the moves only the last waits;
  // gripper toggles are counted, so two Space presses cancel out and one still toggles.
  const DRIVE_KEYS = new Set(["w", "a", "s", "d", "q", "e", " ", "arrowup", "arrowdown", "arrowleft", "arrowright"]);
  let inFlight = false, pendingMove = null, pendingToggle = false, watchdog = null, sentReadout = "";
  // The readout's own text: Gradio also marks the component pending when a request starts, so a
  // chunk is done when this text changes, not on any change under #drive-latency.
  const readoutText = () => document.querySelector('#drive-latency [data-testid="markdown"]')?.textContent ?? "";

  function setBox(id, value) {
    const box = document.querySelector(`#${id} textarea, #${id} input`);
    if (!box) return false;
    box.value = value;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function sendDrive(key) {
    if (inFlight) {
      if (key === "space") pendingToggle = !pendingToggle;
      else pendingMove = key;
      return;
    }
    const button = document.querySelector("#drive-send");
    if (!button || !setBox("drive-key", `${key}@${Date.now()}`)) return;
    inFlight = true;
    sentReadout = readoutText();
    clearTimeout(watchdog);
    watchdog = setTimeout(done, 20000);  // never stay blocked if an answer is lost
    setTimeout(() => button.click(), 0);
  }

  function done() {
    inFlight = false;
    if (pendingToggle) { pendingToggle = false; sendDrive("space"); }  // the move, if any, follows it
    else if (pendingMove !== null) { const key = pendingMove; pendingMove = null; sendDrive(key); }
  }
  window.physgenDrive = sendDrive;  // the on-screen pad goes through the same queue

  const watchReadout = () => {
    const readout = document.querySelector("#drive-latency");
    if (!readout) { setTimeout(watchReadout, 500); return; }
    new MutationObserver(() => { if (inFlight && readoutText() !== sentReadout) done(); })
      .observe(readout, { childList: true, subtree: true, characterData: true });
  };
  watchReadout();

  document.addEventListener("keydown", (event) => {
    const enabled = document.querySelector("#drive-enable input");
    if (!enabled || !enabled.checked) return;
    const target = event.target;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "checkbox"))) return;
    const key = event.key.toLowerCase();
    if (!DRIVE_KEYS.has(key) || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    sendDrive(key === " " ? "space" : key);
  });

  // Drag: press, drag and release on the simulator image draws a stroke; its points (in the
  // image's 512 px display coordinates) go to the hidden #stroke-points box and #stroke-send.
  // While the button is down the stroke is drawn live (#physgen-stroke, an SVG over the page);
  // on release it goes, and the server's markers take its place.
  let stroke = null, swallowClick = false;
  const SVG = "http://www.w3.org/2000/svg";
  function liveStroke(points) {
    let svg = document.querySelector("#physgen-stroke");
    if (!points) { svg?.remove(); return; }
    if (!svg) {
      svg = document.createElementNS(SVG, "svg");
      svg.id = "physgen-stroke";
      svg.setAttribute("style", "position:fixed;left:0;top:0;width:100vw;height:100vh;pointer-events:none;z-index:1000");
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("style", "fill:none;stroke:#ffd400;stroke-width:3;stroke-linecap:round;stroke-linejoin:round");
      svg.appendChild(line);
      document.body.appendChild(svg);
    }
    svg.firstChild.setAttribute("points", points.map((p) => p.join(",")).join(" "));
  }
  const imageAt = (event) => event.target && event.target.closest && event.target.closest("#sim-image") && event.target.tagName === "IMG" ? event.target : null;
  const toDisplay = (img, event) => {
    const rect = img.getBoundingClientRect();
    const w = img.naturalWidth || 512, h = img.naturalHeight || 512;
    return [Math.round((event.clientX - rect.left) * w / rect.width), Math.round((event.clientY - rect.top) * h / rect.height)];
  };
  document.addEventListener("dragstart", (event) => { if (imageAt(event)) event.preventDefault(); });
  document.addEventListener("pointerdown", (event) => {
    const img = imageAt(event);
    if (img) stroke = { img, points: [toDisplay(img, event)], start: [event.clientX, event.clientY], screen: [[event.clientX, event.clientY]] };
  });
  document.addEventListener("pointermove", (event) => {
    if (!stroke || !event.buttons) return;
    stroke.points.push(toDisplay(stroke.img, event));
    stroke.screen.push([event.clientX, event.clientY]);
    liveStroke(stroke.screen);
  });
  document.addEventListener("pointerup", (event) => {
    if (!stroke) return;
    const s = stroke; stroke = null;
    liveStroke(null);
    s.points.push(toDisplay(s.img, event));
    if (Math.hypot(event.clientX - s.start[0], event.clientY - s.start[1]) < 8) return;  // a click: the select handler adds it
    swallowClick = true;
    setTimeout(() => { swallowClick = false; }, 300);
    if (setBox("stroke-points", JSON.stringify(s.points))) setTimeout(() => document.querySelector("#stroke-send")?.click(), 0);
  });
  document.addEventListener("click", (event) => {
    if (swallowClick && imageAt(event)) { event.stopPropagation(); event.preventDefault(); swallowClick = false; }
  }, true);
}
