// Picking an agent for a new chat: the top bar's picker, and filtering a long list as one types.

function initFilter(input) {
  const list = document.getElementById(input.dataset.agentFilter);
  const none = list?.parentElement.querySelector(".agent-picker-none");
  if (!list) return;
  input.addEventListener("input", () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const link of list.querySelectorAll("[data-filter-text]")) {
      const matches = words.every((word) => link.dataset.filterText.includes(word));
      link.closest("li").hidden = !matches;
      if (matches) shown += 1;
    }
    if (none) none.hidden = shown > 0;
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      // Enter opens the first agent still shown.
      const first = [...list.querySelectorAll("li:not([hidden]) a")][0];
      if (first) {
        event.preventDefault();
        first.click();
      }
    }
  });
}

export function initAgentPicker() {
  for (const input of document.querySelectorAll("[data-agent-filter]")) initFilter(input);
  const picker = document.getElementById("agent-picker");
  if (!picker) return;
  const summary = picker.querySelector("summary");
  picker.addEventListener("toggle", () => {
    if (!picker.open) return;
    (picker.querySelector(".agent-filter-input") || picker.querySelector(".agent-picker-item"))?.focus();
  });
  document.addEventListener("click", (event) => {
    if (picker.open && !picker.contains(event.target)) picker.open = false;
  });
  picker.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && picker.open) {
      event.preventDefault();
      event.stopPropagation();
      picker.open = false;
      summary.focus();
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const items = [...picker.querySelectorAll("li:not([hidden]) .agent-picker-item")];
    if (!items.length) return;
    event.preventDefault();
    const at = items.indexOf(document.activeElement);
    const next = event.key === "ArrowDown" ? at + 1 : at - 1;
    items[(next + items.length) % items.length].focus();
  });
}
