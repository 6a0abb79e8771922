// The portal's only script, an enhancement: every page works without it.
// A chosen avatar is previewed before the form is sent.
document.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.preview) return;
  const preview = document.getElementById(input.dataset.preview);
  const file = input.files && input.files[0];
  if (!preview || !file || !file.type.startsWith("image/")) return;
  if (preview.dataset.objectUrl) URL.revokeObjectURL(preview.dataset.objectUrl);
  preview.dataset.objectUrl = URL.createObjectURL(file);
  preview.src = preview.dataset.objectUrl;
  preview.alt = preview.dataset.chosenAlt || preview.alt; // the page's words, in its language
  preview.hidden = false;
});
