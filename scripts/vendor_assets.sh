#!/bin/sh
# Copy the console's front-end packages from npm into hotline/console/static/vendor/.
#
# The copies (with their licences) are committed, so a clean clone serves them without npm
# or a network; run this only after changing a version in package.json (then commit
# package-lock.json and the vendor folder together). `npm ci` installs exactly the locked
# versions and checks their integrity hashes.
set -eu
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --ignore-scripts

vendor=hotline/console/static/vendor
rm -rf "$vendor/leaflet" "$vendor/chart.js"
mkdir -p "$vendor/leaflet/images" "$vendor/chart.js"

# Source maps are left out: they would triple the size and only help debugging the libraries.
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$vendor/leaflet/"
cp node_modules/leaflet/dist/images/*.png "$vendor/leaflet/images/"
cp node_modules/leaflet/LICENSE "$vendor/leaflet/LICENSE"

cp node_modules/chart.js/dist/chart.umd.js "$vendor/chart.js/"
cp node_modules/chart.js/LICENSE.md "$vendor/chart.js/LICENSE.md"

node -e '
const lock = require("./package-lock.json").packages;
for (const name of ["leaflet", "chart.js"]) {
  const p = lock["node_modules/" + name];
  console.log(name + " " + p.version + " " + p.integrity);
}' > "$vendor/VERSIONS.txt"
echo "vendored into $vendor:"
cat "$vendor/VERSIONS.txt"
