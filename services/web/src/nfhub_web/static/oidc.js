// Completes an OpenID Connect login. admin's callback hands the browser its tokens in the URL
// fragment, which no server sees; this posts the refresh token to web (which exchanges it for a
// fresh pair kept server-side) and takes the tokens out of the address bar and history first.
(function () {
  "use strict";
  var form = document.getElementById("oidc-complete");
  if (!form) {
    return;
  }
  var handed = new URLSearchParams(window.location.hash.slice(1));
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  var refreshToken = handed.get("refresh_token");
  if (!refreshToken) {
    document.getElementById("oidc-missing").hidden = false;
    return;
  }
  form.elements.refresh_token.value = refreshToken;
  form.submit();
})();
