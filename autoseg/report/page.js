"use strict";
// The QC report's behaviour: sorting the table, rows that jump to their case, and the slice viewers (each case's
// slices decoded and drawn when it scrolls into view; a slider or the arrow keys go through the slices; a click
// enlarges a plane or a picture).

// Sorting: numbers by their data-value (missing values last in either direction), text alphabetically.
function sortTable(header) {
  const table = header.closest("table");
  const column = Array.from(header.parentNode.children).indexOf(header);
  const ascending = !header.classList.contains("sorted-ascending");
  table.querySelectorAll("th").forEach((th) => th.classList.remove("sorted-ascending", "sorted-descending"));
  header.classList.add(ascending ? "sorted-ascending" : "sorted-descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => row.cells[column].dataset.value;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    const order = header.dataset.type === "number" ? Number(x) - Number(y) : x.localeCompare(y);
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
}
document.querySelectorAll("#cases th").forEach((th) => th.addEventListener("click", () => sortTable(th)));

document.querySelectorAll("#cases tbody tr[data-anchor]").forEach((row) =>
  row.addEventListener("click", () => {
    const target = document.getElementById(row.dataset.anchor);
    if (!target) return;
    document.querySelectorAll("section.case.current").forEach((s) => s.classList.remove("current"));
    target.classList.add("current");
    target.scrollIntoView({ block: "start" });
  }),
);

// ---- Slice viewers ----
const FILL_OPACITY = 0.45; // the prediction's fill over the image; the reference's outline is opaque
const PLANE_SIZE = 320; // CSS pixels of a plane's longer side
const shown = { prediction: true, reference: true };

function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

async function decodeCase(viewer) {
  const meta = JSON.parse(viewer.querySelector("script").textContent);
  const text = atob(meta.data);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buffer = await new Response(inflated).arrayBuffer();
  const count = meta.shape.reduce((a, b) => a * b, 1);
  const arrays = {};
  let offset = 0;
  for (const [name, type] of meta.layout) {
    const size = type === "uint8" ? 1 : 2;
    const part = buffer.slice(offset, offset + count * size);
    arrays[name] = size === 1 ? new Uint8Array(part) : new Uint16Array(part);
    offset += count * size;
  }
  const structures = meta.structures.map((s) => ({ ...s, rgb: rgb(s.colour) }));
  // Each label value is filled in the colour of the smallest structure holding it (regions nest: the innermost shows).
  const paint = meta.values.map((value) => {
    let best = -1;
    structures.forEach((s, k) => {
      if (s.values.includes(value) && (best < 0 || s.values.length <= structures[best].values.length)) best = k;
    });
    return best;
  });
  const member = structures.map((s) => Uint8Array.from(meta.values, (value) => (s.values.includes(value) ? 1 : 0)));
  const outlineOrder = structures.map((_, k) => k).sort((a, b) => structures[a].values.length - structures[b].values.length);
  return { shape: meta.shape, spacing: meta.spacing, slice: meta.start.slice(), arrays, structures, paint, member, outlineOrder };
}

// The plane normal to ``axis`` at ``k``: its size, its voxels' flat indices in display order (rows top to bottom),
// and its pixel spacing. Coronal and sagittal planes show the first array axis upwards.
function plane(volume, axis, k) {
  const shape = volume.shape, spacing = volume.spacing;
  if (shape.length === 2) {
    const [rows, cols] = shape;
    return { rows, cols, index: (r, c) => r * cols + c, dy: spacing[0], dx: spacing[1] };
  }
  const [Z, Y, X] = shape;
  if (axis === 0) return { rows: Y, cols: X, index: (r, c) => (k * Y + r) * X + c, dy: spacing[1], dx: spacing[2] };
  if (axis === 1) return { rows: Z, cols: X, index: (r, c) => ((Z - 1 - r) * Y + k) * X + c, dy: spacing[0], dx: spacing[2] };
  return { rows: Z, cols: Y, index: (r, c) => ((Z - 1 - r) * Y + c) * X + k, dy: spacing[0], dx: spacing[1] };
}

function draw(canvas, volume, axis, size) {
  const view = plane(volume, axis, volume.slice[axis]);
  const { rows, cols } = view;
  canvas.width = cols;
  canvas.height = rows;
  const scale = size / Math.max(cols * view.dx, rows * view.dy);
  canvas.style.width = `${Math.round(cols * view.dx * scale)}px`;
  canvas.style.height = `${Math.round(rows * view.dy * scale)}px`;
  const flat = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) flat[r * cols + c] = view.index(r, c);
  const { image, prediction, reference } = volume.arrays;
  const context = canvas.getContext("2d");
  const pixels = context.createImageData(cols, rows);
  const out = pixels.data;
  for (let p = 0; p < flat.length; p++) {
    const grey = image ? image[flat[p]] : 0;
    let colour = [grey, grey, grey];
    const s = shown.prediction ? volume.paint[prediction[flat[p]]] : -1;
    if (s >= 0) colour = volume.structures[s].rgb.map((c) => Math.round(FILL_OPACITY * c + (1 - FILL_OPACITY) * grey));
    out.set(colour, 4 * p);
    out[4 * p + 3] = 255;
  }
  if (reference && shown.reference) {
    // Larger structures' outlines last: a boundary nested regions share shows the outer one (the inner one keeps its own).
    volume.outlineOrder.forEach((s) => {
      const structure = volume.structures[s];
      const inside = (r, c) => r >= 0 && c >= 0 && r < rows && c < cols && volume.member[s][reference[flat[r * cols + c]]] === 1;
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++)
          if (inside(r, c) && !(inside(r - 1, c) && inside(r + 1, c) && inside(r, c - 1) && inside(r, c + 1)))
            out.set(structure.rgb, 4 * (r * cols + c));
    });
  }
  context.putImageData(pixels, 0, 0);
}

const volumes = new Map(); // viewer element -> decoded case

function redraw(viewer) {
  const volume = volumes.get(viewer);
  viewer.querySelectorAll("figure.plane").forEach((figure) => {
    const canvas = figure.querySelector("canvas");
    const axis = Number(canvas.dataset.plane);
    draw(canvas, volume, axis, PLANE_SIZE);
    figure.querySelector("input").value = volume.slice[axis];
    figure.querySelector(".slice").textContent =
      volume.shape.length === 3 ? `slice ${volume.slice[axis] + 1} of ${volume.shape[axis]}` : "";
  });
  if (enlarged.viewer === viewer) showEnlarged();
  viewer.dataset.state = "drawn";
}

function moveSlice(viewer, axis, to) {
  const volume = volumes.get(viewer);
  if (!volume || volume.shape.length !== 3) return;
  volume.slice[axis] = Math.max(0, Math.min(volume.shape[axis] - 1, to));
  redraw(viewer);
}

const STEPS = { ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10 };

function sliceKeys(event, viewer, axis) {
  const volume = volumes.get(viewer);
  if (!volume) return;
  let to = null;
  if (event.key in STEPS) to = volume.slice[axis] + STEPS[event.key];
  else if (event.key === "Home") to = 0;
  else if (event.key === "End") to = volume.shape[axis] - 1;
  if (to === null) return;
  event.preventDefault();
  moveSlice(viewer, axis, to);
}

async function load(viewer) {
  if (viewer.dataset.state) return;
  viewer.dataset.state = "loading";
  try {
    volumes.set(viewer, await decodeCase(viewer));
    redraw(viewer);
  } catch (error) {
    viewer.dataset.state = "failed";
    const note = document.createElement("p");
    note.className = "notes";
    note.textContent = `could not show the slices: ${error}`;
    viewer.appendChild(note);
    throw error;
  }
}

// The enlarged plane or picture, in a dialog over the page.
const dialog = document.createElement("dialog");
document.body.appendChild(dialog);
const enlarged = { viewer: null, axis: 0 };

function showEnlarged() {
  const volume = volumes.get(enlarged.viewer);
  const canvas = dialog.querySelector("canvas");
  const size = Math.min(window.innerWidth * 0.9, window.innerHeight * 0.8);
  draw(canvas, volume, enlarged.axis, size);
  const slider = dialog.querySelector("input");
  slider.value = volume.slice[enlarged.axis];
  dialog.querySelector("figcaption").textContent = `${enlarged.viewer.dataset.case}: ${
    enlarged.viewer.querySelectorAll("figcaption")[enlarged.axis].textContent
  } (arrow keys: slices; Escape or click: close)`;
}

function enlargePlane(viewer, axis) {
  const volume = volumes.get(viewer);
  if (!volume) return;
  Object.assign(enlarged, { viewer, axis });
  const hidden = volume.shape.length !== 3 || volume.shape[axis] === 1 ? " hidden" : "";
  dialog.innerHTML = `<figure><canvas tabindex="0"></canvas><input type="range" min="0" max="${volume.shape[axis] - 1}"${hidden}><figcaption></figcaption></figure>`;
  dialog.querySelector("input").addEventListener("input", (event) => moveSlice(viewer, axis, Number(event.target.value)));
  dialog.querySelector("canvas").addEventListener("click", () => dialog.close());
  dialog.showModal();
  showEnlarged();
  dialog.querySelector("canvas").focus();
}

dialog.addEventListener("keydown", (event) => {
  if (enlarged.viewer) sliceKeys(event, enlarged.viewer, enlarged.axis);
});
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close();
});
dialog.addEventListener("close", () => {
  enlarged.viewer = null;
});

document.querySelectorAll("figure img").forEach((img) =>
  img.addEventListener("click", () => {
    enlarged.viewer = null;
    dialog.innerHTML = `<figure><img alt="" src="${img.src}"><figcaption></figcaption></figure>`;
    dialog.querySelector("img").style.width = `${Math.min(window.innerWidth * 0.9, img.naturalWidth * 2)}px`;
    dialog.querySelector("figcaption").textContent = img.alt;
    dialog.querySelector("img").addEventListener("click", () => dialog.close());
    dialog.showModal();
  }),
);

const viewers = document.querySelectorAll(".viewer");
if (viewers.length) {
  const observer = new IntersectionObserver(
    (entries) => entries.forEach((entry) => entry.isIntersecting && load(entry.target)),
    { rootMargin: "600px 0px" },
  );
  viewers.forEach((viewer) => {
    observer.observe(viewer);
    viewer.querySelectorAll("figure.plane").forEach((figure) => {
      const canvas = figure.querySelector("canvas");
      const axis = Number(canvas.dataset.plane);
      figure.querySelector("input").addEventListener("input", (event) => moveSlice(viewer, axis, Number(event.target.value)));
      canvas.addEventListener("keydown", (event) => sliceKeys(event, viewer, axis));
      canvas.addEventListener("click", () => enlargePlane(viewer, axis));
    });
  });
  // Switches for the prediction's fill and the reference's outline, over every case.
  const toolbar = document.createElement("div");
  toolbar.className = "toolbar";
  toolbar.innerHTML =
    '<label><input type="checkbox" data-layer="prediction" checked> prediction (filled)</label>' +
    '<label><input type="checkbox" data-layer="reference" checked> reference (outlined)</label>';
  toolbar.querySelectorAll("input").forEach((box) =>
    box.addEventListener("change", () => {
      shown[box.dataset.layer] = box.checked;
      volumes.forEach((_, viewer) => redraw(viewer));
    }),
  );
  viewers[0].closest("section").before(toolbar);
}
