// The concept graph of the account page: /dashboard/graph.json drawn with
// Cytoscape.js (vendored in /static/vendor, MIT). Text is only ever set as
// text (textContent), never as markup.
(function () {
  "use strict";
  const container = document.getElementById("graph");
  if (!container || typeof cytoscape !== "function") return;
  const status = document.getElementById("graph-status");
  const details = document.getElementById("node-details");
  // Force-directed layout reads best but grows with the square of the
  // graph; past this many concepts they are laid out as a sunflower
  // (below), which stays fast at thousands.
  const FORCE_LAYOUT_UP_TO = 300;

  function sunflower(nodes) {
    const positions = {};
    const turn = Math.PI * (3 - Math.sqrt(5));  // the golden angle
    nodes.forEach(function (node, n) {
      const radius = 28 * Math.sqrt(n);
      positions[node.id] = { x: radius * Math.cos(n * turn), y: radius * Math.sin(n * turn) };
    });
    return positions;
  }

  // Node size follows its degree. In a large graph each style property is
  // resolved per element, so sizes come in a few classes (a selector each)
  // rather than mapped from data, and edges carry no label or arrow.
  const SELECTED = { selector: "node:selected", style: { label: "data(name)", "background-color": "#d97706",
    "border-width": 3, "border-color": "#92400e" } };
  const SMALL_STYLE = [
    { selector: "node", style: { label: "data(name)", "font-size": 11, "background-color": "#2563eb",
      width: "mapData(degree, 0, 20, 14, 40)", height: "mapData(degree, 0, 20, 14, 40)",
      color: "#1f2937", "text-valign": "bottom", "text-margin-y": 3, "min-zoomed-font-size": 8 } },
    SELECTED,
    { selector: "edge", style: { width: 1.2, "line-color": "#94a3b8", "target-arrow-color": "#94a3b8",
      "target-arrow-shape": "triangle", "curve-style": "bezier", label: "data(type)",
      "font-size": 9, color: "#64748b", "text-rotation": "autorotate" } },
  ];
  const LARGE_STYLE = [
    { selector: "node", style: { "background-color": "#2563eb", width: 14, height: 14, "font-size": 11,
      color: "#1f2937", "text-valign": "bottom", "text-margin-y": 3 } },
    { selector: "node.d1", style: { width: 22, height: 22 } },
    { selector: "node.d2", style: { width: 30, height: 30 } },
    { selector: "node.d3", style: { width: 40, height: 40 } },
    SELECTED,
    { selector: "edge", style: { width: 1, "line-color": "#94a3b8", "curve-style": "haystack" } },
  ];

  function sizeClass(degree) {
    return degree >= 20 ? "d3" : degree >= 10 ? "d2" : degree >= 4 ? "d1" : "";
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function link(href, text) {
    const anchor = element("a", text);
    anchor.href = href;
    return anchor;
  }

  // What the details panel says of each concept, kept out of the elements:
  // Cytoscape copies each element's data, so it holds only what drawing needs.
  const concepts = new Map();

  function show(cy, node) {
    const data = concepts.get(node.id());
    details.replaceChildren();
    details.append(element("h2", data.name), element("p", data.type, "muted"));
    if (data.description && data.description !== data.name) details.append(element("p", data.description));
    if (data.aliases.length) details.append(element("p", "Also called " + data.aliases.join(", ")));
    const relations = element("ul", undefined, "plain relations");
    node.connectedEdges().forEach(function (edge) {
      const outgoing = edge.source().id() === node.id();
      const other = outgoing ? edge.target() : edge.source();
      const item = element("li");
      item.append(outgoing ? data.name + " " + edge.data("type") + " " : "");
      const otherLink = link("#", other.data("name"));
      otherLink.addEventListener("click", function (event) {
        event.preventDefault();
        cy.$(":selected").unselect();
        other.select();
        cy.animate({ center: { eles: other } }, { duration: 200 });
        show(cy, other);
      });
      item.append(otherLink, outgoing ? "" : " " + edge.data("type") + " " + data.name);
      relations.append(item);
    });
    if (relations.children.length) details.append(element("h3", "Relationships"), relations);
    const actions = element("p", undefined, "graph-actions");
    actions.append(
      link("/dashboard/memories/" + data.id, "Open this concept"),  // a ref: concept:<digits>
      " · ",
      link("/dashboard/memories?q=" + encodeURIComponent(data.name), "Memories that mention it")
    );
    details.append(actions);
  }

  // The page carries its graph (a JSON data block, never run as script): no second request.
  Promise.resolve(JSON.parse(document.getElementById("graph-data").textContent))
    .then(function (graph) {
      if (!graph.nodes.length) {
        status.textContent = "No concepts yet: agents store them with memory_store_concept.";
        container.hidden = true;
        return;
      }
      const elements = graph.nodes
        .map(function (node) {
          concepts.set(node.id, node);
          return { group: "nodes", data: { id: node.id, name: node.name, degree: node.degree }, classes: sizeClass(node.degree) };
        })
        .concat(graph.edges.map(function (edge, n) {
          return { group: "edges", data: { id: "e" + n, source: edge.source, target: edge.target, type: edge.type } };
        }));
      const large = graph.nodes.length > FORCE_LAYOUT_UP_TO;
      const cy = cytoscape({
        container: container,
        elements: elements,
        wheelSensitivity: 0.4,
        textureOnViewport: large,
        hideEdgesOnViewport: large,
        style: large ? LARGE_STYLE : SMALL_STYLE,
        // A large graph is laid out as a sunflower, the most connected concepts
        // (the server sends them first) in the middle: one pass, where a
        // force-directed or ring layout grows with the graph.
        layout: large
          ? { name: "preset", positions: sunflower(graph.nodes), fit: true, padding: 20 }
          : { name: "cose", animate: false, randomize: false, nodeRepulsion: 8000, idealEdgeLength: 90 },
      });
      cy.on("tap", "node", function (event) { show(cy, event.target); });
      // Redrawn at the container's size whenever it changes (a phone turned, a window resized).
      new ResizeObserver(function () { cy.resize(); }).observe(container);
      window.memoryGraph = cy;  // for the page's own tests
      const drawn = Math.round(performance.now());  // from the start of the page's navigation
      status.textContent = graph.nodes.length + " concepts, " + graph.edges.length + " relationships" +
        (graph.truncated ? " (the most connected shown)" : "") + ". Drag to pan, scroll to zoom, choose a concept.";
      document.body.dataset.graphDrawnMs = String(drawn);
    })
    .catch(function (error) {
      status.textContent = "The graph could not be drawn (" + error.message + "). Reload to try again.";
    });
})();
