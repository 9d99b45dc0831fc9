/* The dashboard's charts and hot-spot map, drawn from the JSON the page embeds
 * (<script type="application/json" id="dashboard-data">). Chart.js and Leaflet are served
 * by us; the map draws only our grid polygons unless the page names a tile server. */
(function () {
  "use strict";

  var source = document.getElementById("dashboard-data");
  if (!source) return;
  var data = JSON.parse(source.textContent || "{}");

  // Distinct colours for up to 12 categories, then they repeat.
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
  // Hot-spot shades from few to many open cases.
  var HEAT = ["#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"];

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart === "undefined") return;
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    new window.Chart(canvas, config);
  }

  function bars(id, labels, counts, colour) {
    chart(id, {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "cases", data: counts, backgroundColor: colour }] },
      options: { plugins: { legend: { display: false } },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  if (data.status) bars("chart-status", data.status.labels, data.status.counts, "#1f77b4");
  if (data.intake) bars("chart-intake", data.intake.labels, data.intake.counts, "#2ca02c");

  if (data.trend) {
    chart("chart-trend", {
      type: "line",
      data: {
        labels: data.trend.weeks,
        datasets: data.trend.series.map(function (s, i) {
          var colour = PALETTE[i % PALETTE.length];
          return { label: s.label, data: s.counts, borderColor: colour,
                   backgroundColor: colour, tension: 0.2 };
        })
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }

  function shade(open, most) {
    if (!most) return HEAT[0];
    var step = Math.min(HEAT.length - 1, Math.floor((open / most) * (HEAT.length - 1)));
    return HEAT[step];
  }

  /* Leaflet inserts a string given to bindTooltip as HTML: grid names come from an
   * imported file, so they go in as the text of an element instead. */
  function textElement(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function drawMap() {
    var box = document.getElementById("hotspot-map");
    if (!box || typeof window.L === "undefined") return;
    var grids = data.grids || [];
    var map = window.L.map(box, { attributionControl: false, zoomSnap: 0.25 });
    var tiles = box.getAttribute("data-tiles");
    if (tiles) window.L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var most = grids.reduce(function (m, g) { return Math.max(m, g.open); }, 0);
    var layers = window.L.featureGroup();
    grids.forEach(function (g) {
      var layer = window.L.geoJSON(g.polygon, {
        style: { color: g.overdue ? "#67000d" : "#555", weight: g.overdue ? 2 : 1,
                 fillColor: shade(g.open, most), fillOpacity: 0.75 }
      });
      var tip = g.code + " " + g.name + ": " + g.open + " open" +
        (g.overdue ? ", " + g.overdue + " overdue" : "");
      layer.bindTooltip(textElement(tip));
      layers.addLayer(layer);
    });
    layers.addTo(map);
    if (grids.length) {
      map.fitBounds(layers.getBounds(), { padding: [12, 12] });
    } else {
      map.setView([0, 0], 2);
      box.setAttribute("aria-label", "No open cases in a grid");
    }
    var legend = document.getElementById("hotspot-legend");
    if (legend && most) {
      legend.innerHTML = "";
      legend.appendChild(document.createTextNode("1"));
      HEAT.forEach(function (colour) {
        var swatch = document.createElement("span");
        swatch.style.background = colour;
        legend.appendChild(swatch);
      });
      legend.appendChild(document.createTextNode(most + " open; a dark outline: overdue"));
    }
  }

  drawMap();
})();
