// The referral form: a click on a suggested ICD-10 code fills the diagnosis field and closes
// the suggestions (the suggestions come from the server through HTMX).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var pick = event.target.closest("[data-pick-code]");
    if (!pick) return;
    var input = document.querySelector("#referral-form [name=diagnosis]");
    input.value = pick.dataset.pickCode;
    document.getElementById("diagnosis-choices").innerHTML = "";
    // the capacity panel refreshes the catalogue's advice on this change
    input.dispatchEvent(new Event("change"));
  });
})();
