// The pages' behaviour, out of the HTML: the Content-Security-Policy runs no inline script
// or on* handler. Delegated from the document, so forms and buttons that htmx swaps in later
// behave the same.
"use strict";

// <form data-confirm="question">: submitted only when the agent confirms.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
  if (question !== null && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// <button data-copy="input-id">: copies that input's value (selected, for a manual copy too).
document.addEventListener("click", function (event) {
  var button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (button === null) {
    return;
  }
  var input = document.getElementById(button.getAttribute("data-copy"));
  if (input === null) {
    return;
  }
  input.select();
  if (navigator.clipboard) {
    navigator.clipboard.writeText(input.value);
  }
  button.textContent = "Copied";
});
