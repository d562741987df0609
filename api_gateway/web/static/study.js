// Study page: window/level on a canvas, heat-map overlays, edit state and keyboard shortcuts.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("study-data").textContent);
  var viewers = Array.prototype.slice.call(document.querySelectorAll(".viewer"));
  var current = 0;
  var wl = {center: document.getElementById("wl-center"), width: document.getElementById("wl-width"),
            centerOut: document.getElementById("wl-center-value"), widthOut: document.getElementById("wl-width-value"),
            note: document.getElementById("wl-note"), reset: document.getElementById("wl-reset")};
  var heat = {select: document.getElementById("heatmap-select"), opacity: document.getElementById("heatmap-opacity"),
              note: document.getElementById("heatmap-note")};

  // The stored PNG is already windowed: grey 0..255 spans the DICOM window [c - w/2, c + w/2]
  // (or the whole 8-bit range for PNG/JPEG). A new window is a lookup table over those greys,
  // with the sliders in the original units so they read like a DICOM viewer's.
  function base(image) { return image.window || {center: 128, width: 256}; }  // identity for 8-bit

  function lut(image, center, width) {
    var b = base(image), table = new Uint8ClampedArray(256);
    var lo = center - width / 2;
    for (var g = 0; g < 256; g++) {
      var value = b.center - b.width / 2 + (g / 255) * b.width;
      table[g] = Math.round(((value - lo) / width) * 255);
    }
    return table;
  }

  function draw() {
    var viewer = viewers[current], image = data.images[current];
    if (!viewer || !image) return;
    var img = viewer.querySelector("img.film"), canvas = viewer.querySelector("canvas");
    if (!img.complete || !img.naturalWidth) { img.addEventListener("load", draw, {once: true}); return; }
    var scale = Math.min(1, 1600 / Math.max(img.naturalWidth, img.naturalHeight));
    canvas.width = Math.round(img.naturalWidth * scale);
    canvas.height = Math.round(img.naturalHeight * scale);
    var context = canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(img, 0, 0, canvas.width, canvas.height);
    var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    var table = lut(image, parseFloat(wl.center.value), parseFloat(wl.width.value)), p = pixels.data;
    for (var i = 0; i < p.length; i += 4) { var v = table[p[i]]; p[i] = v; p[i + 1] = v; p[i + 2] = v; }
    context.putImageData(pixels, 0, 0);
    img.classList.add("is-hidden");
    canvas.classList.remove("is-hidden");
    wl.centerOut.textContent = Math.round(parseFloat(wl.center.value));
    wl.widthOut.textContent = Math.round(parseFloat(wl.width.value));
  }

  function resetWindow() {
    var image = data.images[current];
    if (!image || !wl.center) return;
    // Whole-number bounds and steps, so the sliders land on the values they show.
    var b = base(image), span = Math.max(Math.round(b.width * 2), 64), step = Math.max(1, Math.round(b.width / 256));
    wl.center.min = Math.floor(b.center - span); wl.center.max = Math.ceil(b.center + span); wl.center.step = step;
    wl.width.min = Math.max(1, Math.round(b.width / 16)); wl.width.max = Math.ceil(b.width * 4); wl.width.step = step;
    wl.center.value = b.center; wl.width.value = b.width;
    wl.note.textContent = image.window ? "DICOM window " + Math.round(b.center) + " / " + Math.round(b.width)
                                       : "8-bit display values (no DICOM window)";
    draw();
  }

  function fillHeatMaps() {
    var image = data.images[current];
    if (!heat.select) return;
    heat.select.length = 1;
    (image ? image.heat_maps : []).forEach(function (map) {
      var option = document.createElement("option");
      option.value = map.url; option.textContent = map.name + " (" + map.method + ")";
      heat.select.appendChild(option);
    });
    heat.select.disabled = heat.select.length === 1;
    heat.opacity.disabled = heat.select.disabled;
    heat.note.textContent = heat.select.disabled ? "none for this image" : "";
    showHeatMap();
  }

  function showHeatMap() {
    var overlay = viewers[current] && viewers[current].querySelector("img.overlay");
    if (!overlay) return;
    if (!heat.select.value) { overlay.classList.add("is-hidden"); overlay.removeAttribute("src"); return; }
    overlay.src = heat.select.value;
    overlay.style.opacity = String(heat.opacity.value / 100);
    overlay.classList.remove("is-hidden");
  }

  function showImage(index) {
    if (!viewers[index]) return;
    current = index;
    viewers.forEach(function (v, i) { v.classList.toggle("is-hidden", i !== index); });
    document.querySelectorAll("[data-show-image]").forEach(function (b) {
      b.classList.toggle("is-active", parseInt(b.dataset.showImage, 10) === index);
    });
    resetWindow();
    fillHeatMaps();
  }

  if (wl.center) {
    wl.center.addEventListener("input", draw);
    wl.width.addEventListener("input", draw);
    wl.reset.addEventListener("click", resetWindow);
    heat.select.addEventListener("change", showHeatMap);
    heat.opacity.addEventListener("input", showHeatMap);
    document.querySelectorAll("[data-show-image]").forEach(function (b) {
      b.addEventListener("click", function () { showImage(parseInt(b.dataset.showImage, 10)); });
    });
    showImage(0);
  }

  // Editing: "sign off as is" must never sign text the reader did not see, so it is disabled
  // once the editor differs from the stored draft; "amend & sign" is enabled only then.
  var text = document.getElementById("report-text");
  var approve = document.getElementById("approve-button");
  var amend = document.getElementById("amend-button");
  var state = document.getElementById("edit-state");
  function edited() { return text && text.value.trim() !== (data.original_text || "").trim(); }
  function updateButtons() {
    if (!approve || !amend) return;
    approve.disabled = edited();
    amend.disabled = !edited();
    state.textContent = edited() ? "edited: not saved" : "";
  }
  if (text) text.addEventListener("input", updateButtons);
  updateButtons();

  var pending = false;
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (pending) { event.preventDefault(); return; }  // no double submit
      pending = true;
    });
  });
  window.addEventListener("beforeunload", function (event) {
    if (!pending && edited() && amend) { event.preventDefault(); event.returnValue = ""; }
  });

  function signOff() {
    if (!data.can_sign) return;
    var button = edited() ? amend : approve;
    if (!button || button.disabled) return;
    var what = edited() ? "Sign the report with your changes?" : "Sign off the draft as it is?";
    if (window.confirm(what)) button.click();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (typing) { if (event.key === "Escape") document.activeElement.blur(); return; }
    var key = event.key;
    if (key === "j" && data.next) window.location.href = data.next;
    else if (key === "k" && data.previous) window.location.href = data.previous;
    else if (key === "u") window.location.href = "/ui/worklist";
    else if (key === "s") signOff();
    else if (key === "e" && text) text.focus();
    else if (key === "r" && document.getElementById("reject-reason")) document.getElementById("reject-reason").focus();
    else if (key === "w") resetWindow();
    else if (key === "h" && heat.select && !heat.select.disabled) {
      heat.select.selectedIndex = (heat.select.selectedIndex + 1) % heat.select.length; showHeatMap();
    } else return;
    event.preventDefault();
  });
})();
