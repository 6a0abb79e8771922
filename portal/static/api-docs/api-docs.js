// The API reference page: fetches /api/openapi.json and renders its operations, parameters,
// request bodies, responses and schemas. Text from the document is only ever set as text
// (never as HTML), so the page needs no inline script or style and works under a strict CSP.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// The document's descriptions use a little Markdown: paragraphs, **bold** and `code`.
function inline(text) {
  const nodes = [];
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const token = match[0];
    nodes.push(token.startsWith("`") ? el("code", {}, token.slice(1, -1)) : el("strong", {}, token.slice(2, -2)));
    last = match.index + token.length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

function prose(text) {
  if (!text) return [];
  return text.trim().split(/\n\s*\n/).map((paragraph) => el("p", {}, inline(paragraph.replace(/\s*\n\s*/g, " "))));
}

function refName(ref) {
  return ref.split("/").pop();
}

function resolve(doc, object) {
  let seen = 0;
  while (object && object.$ref && seen++ < 20) {
    const parts = object.$ref.replace(/^#\//, "").split("/");
    object = parts.reduce((node, part) => (node ? node[part] : undefined), doc);
  }
  return object || {};
}

function typeLabel(schema) {
  if (schema.$ref) return refName(schema.$ref);
  let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  if (type === "array" && schema.items) type = `array of ${typeLabel(schema.items)}`;
  if (!type && schema.anyOf) type = schema.anyOf.map(typeLabel).join(" | ");
  if (!type && schema.oneOf) type = schema.oneOf.map(typeLabel).join(" | ");
  if (!type && schema.const !== undefined) type = typeof schema.const;
  if (!type) type = "any";
  if (schema.format) type += ` (${schema.format})`;
  return type;
}

function constraints(schema) {
  const notes = [];
  if (schema.readOnly) notes.push("read-only");
  if (schema.minLength !== undefined) notes.push(`at least ${schema.minLength} character${schema.minLength === 1 ? "" : "s"}`);
  if (schema.maxLength !== undefined) notes.push(`at most ${schema.maxLength} characters`);
  if (schema.minimum !== undefined) notes.push(`minimum ${schema.minimum}`);
  if (schema.pattern) notes.push(`pattern ${schema.pattern}`);
  if (schema.const !== undefined) notes.push(`always ${JSON.stringify(schema.const)}`);
  if (schema.enum) notes.push(`one of ${schema.enum.map((v) => JSON.stringify(v)).join(", ")}`);
  if (schema.example !== undefined) notes.push(`example ${JSON.stringify(schema.example)}`);
  return notes;
}

// A schema as a table of its properties (objects), or a line naming its type.
function schemaView(doc, schema, depth = 0) {
  const box = el("div", { class: "schema" });
  const named = schema.$ref ? refName(schema.$ref) : null;
  const target = resolve(doc, schema);
  if (named) box.append(el("p", {}, "Schema ", el("a", { href: `#schema-${named}` }, named), target.description ? ": " : "", inline(target.description || "")));
  else if (target.description && depth === 0) box.append(...prose(target.description));
  const variants = target.anyOf || target.oneOf;
  if (variants && depth < 4) {
    box.append(el("p", {}, target.anyOf ? "Any of:" : "One of:"));
    for (const variant of variants) box.append(schemaView(doc, variant, depth + 1));
    return box;
  }
  if (target.properties && depth < 4) {
    const required = new Set(target.required || []);
    const rows = Object.entries(target.properties).map(([name, property]) => {
      const resolved = resolve(doc, property);
      return el("tr", {},
        el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "required" }, " required") : null),
        el("td", { class: "type" }, typeLabel(property)),
        el("td", {}, inline(resolved.description || ""), constraints(resolved).length ? el("span", { class: "muted" }, ` ${constraints(resolved).join("; ")}`) : null),
      );
    });
    box.append(el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Notes"))), el("tbody", {}, rows)));
    if (target.additionalProperties === false) box.append(el("p", { class: "muted" }, "No other fields."));
  } else if (target.additionalProperties && typeof target.additionalProperties === "object") {
    box.append(el("p", {}, "An object whose values are ", el("span", { class: "type" }, typeLabel(target.additionalProperties)), "."));
    if (target.example !== undefined) box.append(el("p", { class: "muted" }, "Example: ", el("code", {}, JSON.stringify(target.example))));
  } else if (!named) {
    box.append(el("p", { class: "type" }, typeLabel(target)));
  }
  return box;
}

function securityView(doc, operation) {
  const requirements = operation.security !== undefined ? operation.security : doc.security || [];
  if (!requirements.length) return el("p", { class: "muted" }, "No credentials needed.");
  const names = requirements.flatMap((requirement) => Object.keys(requirement));
  return el("p", {}, "Credentials, any one of: ",
    names.map((name, index) => [index ? ", " : "", el("a", { href: `#security-${name}` }, name)]));
}

function parametersView(doc, parameters) {
  if (!parameters || !parameters.length) return null;
  const rows = parameters.map((parameter) => {
    const p = resolve(doc, parameter);
    return el("tr", {},
      el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "required" }, " required") : null),
      el("td", {}, p.in),
      el("td", { class: "type" }, typeLabel(p.schema || {})),
      el("td", {}, inline(p.description || "")));
  });
  return [el("h4", {}, "Parameters"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description"))), el("tbody", {}, rows))];
}

function bodyView(doc, requestBody) {
  if (!requestBody) return null;
  const body = resolve(doc, requestBody);
  const parts = [el("h4", {}, "Request body", body.required ? "" : " (optional)")];
  for (const [mediaType, content] of Object.entries(body.content || {})) {
    parts.push(el("p", {}, el("code", {}, mediaType)), schemaView(doc, content.schema || {}));
  }
  return parts;
}

function responsesView(doc, responses) {
  const rows = Object.entries(responses || {}).map(([status, response]) => {
    const r = resolve(doc, response);
    const cell = el("td", {}, inline(r.description || ""));
    const headers = Object.entries(r.headers || {});
    if (headers.length) {
      cell.append(el("p", { class: "muted" }, "Headers: ", headers.map(([name, header], index) => {
        const h = resolve(doc, header);
        return [index ? ", " : "", el("code", {}, name), h.description ? ` (${h.description})` : ""];
      })));
    }
    for (const [mediaType, content] of Object.entries(r.content || {})) {
      cell.append(el("details", {}, el("summary", {}, "Body ", el("code", {}, mediaType)), schemaView(doc, content.schema || {}, 1)));
    }
    return el("tr", {}, el("td", { class: "status" }, status), cell);
  });
  return [el("h4", {}, "Responses"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Meaning"))), el("tbody", {}, rows))];
}

function operationsByTag(doc) {
  const groups = new Map((doc.tags || []).map((tag) => [tag.name, { tag, operations: [] }]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const name = (operation.tags && operation.tags[0]) || "Other";
      if (!groups.has(name)) groups.set(name, { tag: { name }, operations: [] });
      groups.get(name).operations.push({ path, method, operation, shared: item.parameters || [] });
    }
  }
  return [...groups.values()].filter((group) => group.operations.length);
}

function anchor(entry) {
  return `op-${entry.operation.operationId || `${entry.method}-${entry.path}`}`.replace(/[^A-Za-z0-9_-]/g, "-");
}

function render(doc) {
  const info = doc.info || {};
  const intro = document.getElementById("intro");
  intro.replaceChildren(
    el("h1", {}, info.title || "API"),
    el("p", { class: "muted" }, `Version ${info.version || "?"} · OpenAPI ${doc.openapi}`),
    ...prose(info.description),
  );

  const schemes = Object.entries((doc.components || {}).securitySchemes || {});
  const reference = document.getElementById("reference");
  const toc = el("div", {});
  reference.replaceChildren();
  if (schemes.length) {
    reference.append(el("section", { class: "tag-section", "aria-labelledby": "security-heading" },
      el("h2", { id: "security-heading" }, "Credentials"),
      el("table", {}, el("tbody", {}, schemes.map(([name, scheme]) => el("tr", { id: `security-${name}` },
        el("td", {}, el("code", {}, name)),
        el("td", {}, [scheme.type, scheme.scheme, scheme.in && `in ${scheme.in}`, scheme.name].filter(Boolean).join(" · ")),
        el("td", {}, inline(scheme.description || ""))))))));
  }

  for (const group of operationsByTag(doc)) {
    const id = `tag-${group.tag.name}`.replace(/[^A-Za-z0-9_-]/g, "-");
    const section = el("section", { class: "tag-section", "aria-labelledby": id },
      el("h2", { id }, group.tag.name), ...prose(group.tag.description));
    const links = el("ul", {});
    for (const entry of group.operations) {
      const { path, method, operation } = entry;
      const parameters = [...entry.shared, ...(operation.parameters || [])];
      section.append(el("article", { class: "operation", id: anchor(entry) },
        el("h3", {}, el("span", { class: `method method-${method}` }, method.toUpperCase()), el("span", { class: "path" }, path)),
        operation.summary ? el("p", {}, el("strong", {}, operation.summary)) : null,
        ...prose(operation.description),
        securityView(doc, operation),
        parametersView(doc, parameters),
        bodyView(doc, operation.requestBody),
        responsesView(doc, operation.responses)));
      links.append(el("li", {}, el("a", { href: `#${anchor(entry)}` },
        el("span", { class: `method method-${method}` }, method.toUpperCase()), el("span", {}, path))));
    }
    reference.append(section);
    toc.append(el("h3", {}, group.tag.name), links);
  }

  const schemas = Object.entries((doc.components || {}).schemas || {});
  if (schemas.length) {
    const section = el("section", { class: "tag-section", "aria-labelledby": "schemas-heading" }, el("h2", { id: "schemas-heading" }, "Schemas"));
    for (const [name, schema] of schemas) {
      section.append(el("article", { class: "operation", id: `schema-${name}` }, el("h3", {}, el("span", { class: "path" }, name)), schemaView(doc, schema)));
    }
    reference.append(section);
    toc.append(el("h3", {}, el("a", { href: "#schemas-heading" }, "Schemas")));
  }
  document.getElementById("toc").replaceChildren(toc);
  if (location.hash) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }
}

async function load() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/api/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    render(await response.json());
  } catch (error) {
    status.textContent = `The document could not be loaded: ${error.message}.`;
    status.className = "error";
    document.getElementById("toc").replaceChildren(el("p", { class: "muted" }, "Nothing to show."));
  }
}

load();
