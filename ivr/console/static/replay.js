// The replay page: a timeline moment seeks the player to its offset and plays from there.
// Served from this site (the pages' CSP allows no inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var player = document.getElementById("player");
  if (!player) { return; }
  document.querySelectorAll("[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      var at = parseFloat(button.getAttribute("data-seek"));
      if (isNaN(at)) { return; }
      player.currentTime = Math.max(0, at);
      player.play().catch(function () { /* autoplay refused: the position is still set */ });
    });
  });
});
