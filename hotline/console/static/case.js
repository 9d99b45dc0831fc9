/* The case page and the new-case form: the map (the grid outline and the point, drawn on
 * a plain background unless HOTLINE_MAP_TILES names a tile server) and the place picker.
 * A click on the map fills the form's lat/lon; typing searches the gazetteer. Without
 * JavaScript both pages still work: the map is an extra. */
(function () {
  "use strict";

  function drawMap(box, onClick) {
    if (!box || !window.L) return null;
    var geo = JSON.parse(box.getAttribute("data-geo") || "{}");
    var map = window.L.map(box, { attributionControl: false, zoomSnap: 0.25 });
    var tiles = box.getAttribute("data-tiles");
    if (tiles) window.L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var group = window.L.featureGroup().addTo(map);
    if (geo.outline) {
      window.L.geoJSON(geo.outline, { style: { color: "#1f5fbf", weight: 2, fillOpacity: 0.1 } }).addTo(group);
    }
    if (geo.point) {
      window.L.circleMarker(geo.point, { radius: 8, color: "#b3261e", fillOpacity: 0.9 }).addTo(group);
    }
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { padding: [24, 24], maxZoom: 17 });
    } else if (geo.bounds) {
      map.fitBounds(geo.bounds, { padding: [24, 24] });
    } else {
      map.setView([0, 0], 2);
    }
    var picked = null;
    if (onClick) {
      map.on("click", function (event) {
        if (picked) picked.remove();
        picked = window.L.circleMarker(event.latlng, { radius: 7, color: "#1d7a3a", fillOpacity: 0.9 }).addTo(map);
        onClick(event.latlng.lat, event.latlng.lng);
      });
    }
    return map;
  }

  function placePicker(form) {
    if (!form) return null;
    var input = form.querySelector("input[type=search]");
    var list = form.querySelector(".place-results");
    var chosen = form.querySelector(".place-chosen");
    var field = function (name) { return form.querySelector("input[name=" + name + "]"); };
    var timer = null;

    function choosePlace(place) {
      field("place_id").value = place.id;
      field("lat").value = "";
      field("lon").value = "";
      if (field("place_label")) field("place_label").value = place.name_en;
      chosen.textContent = "Chosen: " + place.name_en + " / " + place.name_zh +
        (place.grid ? " (grid " + place.grid + ")" : " (outside every grid)");
      list.innerHTML = "";
      input.value = place.name_en;
    }

    function choosePoint(lat, lon) {
      field("place_id").value = "";
      field("lat").value = lat.toFixed(6);
      field("lon").value = lon.toFixed(6);
      if (field("place_label")) field("place_label").value = "";
      chosen.textContent = "Chosen: the point " + lat.toFixed(5) + ", " + lon.toFixed(5) + "…";
      var url = input.getAttribute("data-places-url") + "?lat=" + lat + "&lon=" + lon;
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (a) {
        chosen.textContent = "Chosen: the point " + lat.toFixed(5) + ", " + lon.toFixed(5) +
          (a.grid ? " (grid " + a.grid + ")" : " (outside every grid: choose again)");
      }).catch(function () {});
    }

    function search() {
      var q = input.value.trim();
      if (!q) { list.innerHTML = ""; return; }
      var url = input.getAttribute("data-places-url") + "?q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (answer) {
        list.innerHTML = "";
        (answer.places || []).forEach(function (place) {
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
    return choosePoint;
  }

  var form = document.querySelector("form.place-form");
  var choosePoint = placePicker(form);
  drawMap(document.getElementById("case-map"), choosePoint);
})();
