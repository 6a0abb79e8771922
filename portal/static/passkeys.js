// Passkeys: the browser's half of a WebAuthn ceremony, for the forms that carry data-passkey.
//
// A passkey form posts like any other form. Without JavaScript its button stays disabled and its
// hint says why; with it, pressing the button first asks the portal for the ceremony's options
// (POST to data-options-url, with the form's CSRF token), lets the browser create or use a passkey,
// puts the browser's answer in the form's hidden "credential" field and only then sends the form.
(() => {
  "use strict";

  const forms = document.querySelectorAll("form[data-passkey]");
  if (!forms.length) return;
  const supported = Boolean(window.PublicKeyCredential && navigator.credentials);

  const toBytes = (base64url) => {
    const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
  };
  const toBase64url = (buffer) => {
    const binary = String.fromCharCode(...new Uint8Array(buffer));
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };

  // The options arrive as JSON with binary values in base64url; the browser wants bytes.
  const creationOptions = (options) => ({
    ...options,
    challenge: toBytes(options.challenge),
    user: { ...options.user, id: toBytes(options.user.id) },
    excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  });
  const requestOptions = (options) => ({
    ...options,
    challenge: toBytes(options.challenge),
    allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
  });

  // The browser's answer as JSON with binary values in base64url, as the portal reads it.
  const answer = (credential) => {
    const response = credential.response;
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      json.response.userHandle = response.userHandle ? toBase64url(response.userHandle) : null;
    }
    return json;
  };

  const say = (form, message) => {
    const status = form.querySelector("[data-passkey-status]");
    if (status) status.textContent = message;
  };

  forms.forEach((form) => {
    const button = form.querySelector("button[type=submit]");
    const hint = form.querySelector("[data-passkey-needs-script]");
    if (!supported) {
      if (hint) hint.textContent = hint.dataset.unsupported || hint.textContent;
      return;
    }
    if (hint) hint.hidden = true;
    if (button) button.disabled = false;

    form.addEventListener("submit", async (event) => {
      if (form.dataset.answered) return; // the second submit carries the browser's answer
      event.preventDefault();
      if (button) button.disabled = true;
      say(form, form.dataset.waiting || "");
      try {
        const reply = await fetch(form.dataset.optionsUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": form.elements.csrf_token.value, Accept: "application/json" },
        });
        if (reply.status === 401) {
          // The session must prove it's still you first: send the form as it is, and the page asks.
          form.dataset.answered = "1";
          form.submit();
          return;
        }
        if (!reply.ok) throw new Error(form.dataset.failed || "The passkey could not be used.");
        const options = await reply.json();
        const credential = form.dataset.passkey === "register"
          ? await navigator.credentials.create({ publicKey: creationOptions(options) })
          : await navigator.credentials.get({ publicKey: requestOptions(options) });
        form.elements.credential.value = JSON.stringify(answer(credential));
        form.dataset.answered = "1";
        form.submit();
      } catch (error) {
        // Cancelled, timed out, or no passkey: the person may simply try again.
        say(form, form.dataset.failed || String(error));
        if (button) button.disabled = false;
      }
    });
  });
})();
