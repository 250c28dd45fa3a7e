() => {
  // PhysGen Studio page behaviour, run once on load (gr launch(js=...)).
  // Drive: keys -> the hidden #drive-key box + a click on the hidden #drive-send button. While a chunk
  // runs, presses are coalesced: only the last one waits, and it is sent when the readout updates.
  const DRIVE_KEYS = new Set(["w", "a", "s", "d", "q", "e", " ", "arrowup", "arrowdown", "arrowleft", "arrowright"]);
  let inFlight = false, pending = null, watchdog = null;

  function setBox(id, value) {
    const box = document.querySelector(`#${id} textarea, #${id} input`);
    if (!box) return false;
    box.value = value;
    box.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function sendDrive(key) {
    if (inFlight) { pending = key; return; }
    const button = document.querySelector("#drive-send");
    if (!button || !setBox("drive-key", `${key}@${Date.now()}`)) return;
    inFlight = true;
    clearTimeout(watchdog);
    watchdog = setTimeout(done, 20000);  // never stay blocked if an answer is lost
    setTimeout(() => button.click(), 0);
  }

  function done() {
    inFlight = false;
    if (pending !== null) { const key = pending; pending = null; sendDrive(key); }
  }
  window.physgenDrive = sendDrive;  // the on-screen pad goes through the same queue

  const watchReadout = () => {
    const readout = document.querySelector("#drive-latency");
    if (!readout) { setTimeout(watchReadout, 500); return; }
    new MutationObserver(() => { if (inFlight) done(); }).observe(readout, { childList: true, subtree: true, characterData: true });
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
  let stroke = null, swallowClick = false;
  const imageAt = (event) => event.target && event.target.closest && event.target.closest("#sim-image") && event.target.tagName === "IMG" ? event.target : null;
  const toDisplay = (img, event) => {
    const rect = img.getBoundingClientRect();
    const w = img.naturalWidth || 512, h = img.naturalHeight || 512;
    return [Math.round((event.clientX - rect.left) * w / rect.width), Math.round((event.clientY - rect.top) * h / rect.height)];
  };
  document.addEventListener("dragstart", (event) => { if (imageAt(event)) event.preventDefault(); });
  document.addEventListener("pointerdown", (event) => {
    const img = imageAt(event);
    if (img) stroke = { img, points: [toDisplay(img, event)], start: [event.clientX, event.clientY] };
  });
  document.addEventListener("pointermove", (event) => {
    if (stroke && event.buttons) stroke.points.push(toDisplay(stroke.img, event));
  });
  document.addEventListener("pointerup", (event) => {
    if (!stroke) return;
    const s = stroke; stroke = null;
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
