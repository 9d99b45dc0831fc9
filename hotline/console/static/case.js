/* The case page and the new-case form: the map and the place picker.
 * The map draws the case's grid outline and point on a plain background (tiles only if
 * HOTLINE_MAP_TILES names a server), and the outlines of the grids in view, fetched from
 * /console/places/grids as the map moves, so there is something to click on. A click
 * fills the form's lat/lon; typing searches the gazetteer. Without JavaScript both pages
 * still work: the map is an extra. */
(function () {
  "use strict";

  function getJson(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }

  /* Leaflet inserts a string given to bindTooltip as HTML: grid names come from an
   * imported file, so they go in as the text of an element instead. */
  function textElement(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function drawMap(box) {
    if (!box || !window.L) return null;
    var L = window.L;
    var geo = JSON.parse(box.getAttribute("data-geo") || "{}");
    var map = L.map(box, { attributionControl: false, zoomSnap: 0.25 });
    var tiles = box.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var around = L.layerGroup().addTo(map);
    var group = L.featureGroup().addTo(map);
    if (geo.outline) {
      L.geoJSON(geo.outline, { style: { color: "#1f5fbf", weight: 3, fillOpacity: 0.12 } }).addTo(group);
    }
    if (geo.point) {
      L.circleMarker(geo.point, { radius: 8, color: "#b3261e", fillOpacity: 0.9 }).addTo(group);
    }
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 16 });
    } else if (geo.bounds) {
      map.fitBounds(geo.bounds, { padding: [24, 24] });
    } else {
      map.setView([0, 0], 2);
    }
    var gridsUrl = box.getAttribute("data-grids-url");
    var hint = L.control({ position: "bottomleft" });
    hint.onAdd = function () {
      var div = L.DomUtil.create("div", "map-hint");
      div.hidden = true;
      return div;
    };
    hint.addTo(map);
    function loadGrids() {
      if (!gridsUrl) return;
      var b = map.getBounds();
      var url = gridsUrl + "?south=" + b.getSouth() + "&west=" + b.getWest() +
        "&north=" + b.getNorth() + "&east=" + b.getEast();
      getJson(url).then(function (answer) {
        around.clearLayers();
        var div = hint.getContainer();
        div.hidden = !answer.too_many;
        div.textContent = answer.too_many ? "Zoom in to see the grids." : "";
        answer.grids.forEach(function (g) {
          L.geoJSON(g.polygon, { style: { color: "#5b6573", weight: 1, fillOpacity: 0.03 }, interactive: false })
            .bindTooltip(textElement(g.code + " " + g.name)).addTo(around);
        });
      }).catch(function () {});
    }
    map.on("moveend", loadGrids);
    loadGrids();
    return map;
  }

  function placePicker(form, map) {
    if (!form) return;
    var L = window.L;
    var input = form.querySelector("input[type=search]");
    var list = form.querySelector(".place-results");
    var chosen = form.querySelector(".place-chosen");
    var field = function (name) { return form.querySelector("input[name=" + name + "]"); };
    var timer = null;
    var marker = null;

    function mark(lat, lon, zoom) {
      if (!map) return;
      if (marker) marker.remove();
      marker = L.circleMarker([lat, lon], { radius: 7, color: "#1d7a3a", fillOpacity: 0.9 }).addTo(map);
      if (zoom) map.setView([lat, lon], Math.max(map.getZoom(), 16));
    }

    function choosePlace(place) {
      field("place_id").value = place.id;
      field("lat").value = "";
      field("lon").value = "";
      if (field("place_label")) field("place_label").value = place.name_en;
      chosen.textContent = "Chosen: " + place.name_en + " / " + place.name_zh +
        (place.grid ? " (grid " + place.grid + ")" : " (outside every grid)");
      list.innerHTML = "";
      input.value = place.name_en;
      mark(place.lat, place.lon, true);
    }

    function choosePoint(lat, lon) {
      field("place_id").value = "";
      field("lat").value = lat.toFixed(6);
      field("lon").value = lon.toFixed(6);
      if (field("place_label")) field("place_label").value = "";
      mark(lat, lon, false);
      var where = "the point " + lat.toFixed(5) + ", " + lon.toFixed(5);
      chosen.textContent = "Chosen: " + where + "…";
      getJson(input.getAttribute("data-places-url") + "?lat=" + lat + "&lon=" + lon).then(function (a) {
        chosen.textContent = "Chosen: " + where +
          (a.grid ? " (grid " + a.grid + ")" : " (outside every grid: choose again)");
      }).catch(function () {});
    }

    function search() {
      var q = input.value.trim();
      if (!q) { list.innerHTML = ""; return; }
      getJson(input.getAttribute("data-places-url") + "?q=" + encodeURIComponent(q)).then(function (answer) {
        list.innerHTML = "";
        answer.places.forEach(function (place) {
          var li = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button";
          button.className = "link-button";
          button.textContent = place.name_en + " / " + place.name_zh + " · " + place.kind +
            (place.grid ? " · grid " + place.grid : "");
          button.addEventListener("click", function () { choosePlace(place); });
          li.appendChild(button);
          list.appendChild(li);
        });
        if (!list.children.length) {
          var none = document.createElement("li");
          none.className = "muted";
          none.textContent = "No place matches: try another spelling, or click the map.";
          list.appendChild(none);
        }
      }).catch(function () {});
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); clearTimeout(timer); search(); }
    });
    if (map) map.on("click", function (event) { choosePoint(event.latlng.lat, event.latlng.lng); });
    if (field("lat").value && field("lon").value) mark(+field("lat").value, +field("lon").value, false);
  }

  var map = drawMap(document.getElementById("case-map"));
  placePicker(document.querySelector("form.place-form"), map);
})();
