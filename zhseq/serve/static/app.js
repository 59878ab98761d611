// The page of `zhseq serve` at /: the text's sentiment, its words shaded by their weight, and the next words,
// asked for as the user types (after DEBOUNCE_MS without a keystroke; never while an IME is composing).
//
// Talks to the server's JSON API (relative URLs, so the page also works behind a path prefix):
//   POST v1/sentiment     {"texts": [text], "neutral_band": x, "explain": true}   (without explain if refused)
//     → {"results": [{"text", "label": str | null, "score": float | null, "explanation": [{"token", "weight"}]}]}
//   POST v1/predict-next  {"texts": [text]}   (k: the server's default, 5 or its --max-k if smaller)
//     → {"results": [{"text", "predictions": [{"token", "score"}]}]}   (what to append to the text)
// An error answer's message is its {"error": "one line"} (zhseq serve's), else FastAPI's {"detail": ...}; a 503
// (the server's queue is full) is asked again after its Retry-After.
"use strict";

(() => {
  const DEBOUNCE_MS = 250;
  // rgb of the two sides; the alpha (deeper = larger share) is set per word
  const FOR_RGB = "22, 163, 74";
  const AGAINST_RGB = "220, 38, 38";

  const $ = (id) => document.getElementById(id);
  const textBox = $("text");
  const band = $("band");
  const errorBox = $("error");
  const sentimentPanel = $("sentiment");
  const nextPanel = $("next");
  const labelOut = $("label");
  const scoreOut = $("score");
  const note = $("note");
  const words = $("words");
  const legend = $("legend");
  const weightsBox = $("weights-box");
  const weightsBody = document.querySelector("#weights tbody");
  const noWeights = $("no-weights");
  const suggestions = $("suggestions");

  let composing = false; // an IME is composing: its half-typed pinyin is not the text yet
  let timer = null;
  let asked = 0; // number of the latest update; older answers are dropped
  let inFlight = null; // AbortController of the latest update
  let explainable = true; // false once the server refused "explain" and labelled the text without it

  // -- talking to the server ---------------------------------------------------------------------------------

  // {"error": "..."}, or FastAPI's {"detail": "..."} or validation list [{"loc": [...], "msg": "..."}].
  function messageOf(data) {
    if (!data || typeof data !== "object") return "";
    const d = data.error ?? data.detail ?? data.message;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      return d.map((item) => {
        if (typeof item === "string") return item;
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return (where ? where + ": " : "") + (item.msg ?? JSON.stringify(item));
      }).join("; ");
    }
    if (d && typeof d === "object") return d.message ?? d.msg ?? JSON.stringify(d);
    return "";
  }

  // POST a JSON body; the parsed answer, or an Error whose message is the server's (or says what went wrong).
  async function post(path, body, signal) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new Error(`cannot reach the server (${err.message})`);
    }
    const raw = await response.text();
    let data = null;
    try {
      data = raw ? JSON.parse(raw) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      // the server's one line; the status only when it said nothing readable (a proxy's HTML page, say)
      const said = messageOf(data) || `${response.status} ${response.statusText}`.trim();
      const error = new Error(said);
      error.status = response.status;
      error.retryAfter = response.status === 503 ? Number(response.headers.get("Retry-After")) : NaN;
      throw error;
    }
    if (data === null) throw new Error(`${path}: the server's answer is not JSON`);
    return data;
  }

  // The label, with the words' weights while the server gives them. A server that refuses "explain" (422) but
  // labels the same text without it is asked without it from then on; any other error is the one shown.
  async function askSentiment(text, neutralBand, signal) {
    const body = {texts: [text], neutral_band: neutralBand};
    if (!explainable) return post("v1/sentiment", body, signal);
    try {
      return await post("v1/sentiment", {...body, explain: true}, signal);
    } catch (err) {
      if (err.status !== 422) throw err;
      const plain = await post("v1/sentiment", body, signal);
      explainable = false;
      return plain;
    }
  }

  // The first result of an answer: {"results": [...]}, or a bare list.
  function firstResult(data) {
    const list = Array.isArray(data) ? data : data && data.results;
    if (!Array.isArray(list) || list.length === 0) throw new Error("the server's answer has no results");
    return list[0];
  }

  // -- showing the answers -----------------------------------------------------------------------------------

  function showError(messages) {
    if (messages.length === 0) {
      errorBox.hidden = true;
      errorBox.textContent = "";
    } else {
      errorBox.textContent = "Error: " + messages.join(" · ");
      errorBox.hidden = false;
    }
  }

  function clearSentiment() {
    labelOut.textContent = "—";
    labelOut.dataset.label = "";
    scoreOut.textContent = "";
    note.textContent = "";
    words.replaceChildren();
    legend.hidden = true;
    weightsBox.hidden = true;
    weightsBody.replaceChildren();
    noWeights.hidden = true;
  }

  function showSentiment(result, text) {
    clearSentiment();
    if (result.label === null || result.label === undefined) {
      // the server's null: a text without content (blank, or nothing the model knows)
      note.textContent = text === "" ? "" : text.trim() === "" ? "no label: the text is blank"
        : "no label: the model knows nothing in this text";
      return;
    }
    labelOut.textContent = result.label;
    labelOut.dataset.label = result.label;
    if (typeof result.score === "number") scoreOut.textContent = result.score.toFixed(3);
    if (Array.isArray(result.explanation)) showExplanation(result.explanation, result.label);
    else noWeights.hidden = false;
  }

  // Each word as the tokenizer cut it, shaded green (for the label) or red (against it), deeper the larger its
  // share relative to the text's strongest word; its weight in the title and in the table.
  function showExplanation(explanation, label) {
    if (explanation.length === 0) return;
    const strongest = Math.max(...explanation.map((e) => Math.abs(e.weight)));
    for (const {token, weight} of explanation) {
      const span = document.createElement("span");
      span.className = "word " + (weight > 0 ? "for" : weight < 0 ? "against" : "even");
      span.textContent = token;
      span.dataset.weight = String(weight);
      const share = strongest > 0 ? Math.abs(weight) / strongest : 0;
      if (weight !== 0) {
        const alpha = (0.12 + 0.68 * share).toFixed(3);
        span.style.backgroundColor = `rgba(${weight > 0 ? FOR_RGB : AGAINST_RGB}, ${alpha})`;
      }
      span.title = `${signed(weight)} (${weight >= 0 ? "for" : "against"} ${label})`;
      words.append(span);
    }
    // with a neutral band, "neutral" replaced the label the weights speak for: say so rather than name it wrong
    legend.querySelector(".side").textContent = label === "neutral" ? "the side it leans to" : label;
    legend.hidden = false;
    const rows = [...explanation].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).map(({token, weight}) => {
      const row = document.createElement("tr");
      const word = document.createElement("td");
      word.textContent = token;
      word.lang = "zh";
      const value = document.createElement("td");
      value.textContent = signed(weight);
      row.append(word, value);
      return row;
    });
    weightsBody.replaceChildren(...rows);
    weightsBox.hidden = false;
  }

  function signed(x) {
    return (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(3);
  }

  function showSuggestions(result) {
    const predictions = Array.isArray(result) ? result : result.predictions;
    if (!Array.isArray(predictions)) throw new Error("the server's next words are not a list");
    suggestions.replaceChildren(...predictions.map(({token, score}) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "suggestion";
      button.dataset.token = token;
      const shown = token.trim() ? token : token.replace(/ /g, "␣");
      const percent = typeof score === "number" ? `${(100 * score).toFixed(score >= 0.1 ? 0 : 1)} %` : "";
      button.setAttribute("aria-label", `append “${shown}”${percent ? ", " + percent : ""}`);
      const word = document.createElement("span");
      word.className = "token";
      word.textContent = shown;
      const share = document.createElement("span");
      share.className = "share";
      share.textContent = percent;
      share.setAttribute("aria-hidden", "true");
      button.append(word, share);
      item.append(button);
      return item;
    }));
  }

  // -- the update ------------------------------------------------------------------------------------------------

  function schedule(delay = DEBOUNCE_MS) {
    clearTimeout(timer);
    timer = setTimeout(update, delay);
  }

  function neutralBand() {
    const value = band.value.trim();
    if (value === "") return 0;
    const x = Number(value);
    if (!Number.isFinite(x)) throw new Error(`the neutral band must be a number, not "${value}"`);
    return x; // the server checks its range and says so
  }

  async function update() {
    clearTimeout(timer);
    if (composing) return;
    const text = textBox.value;
    const mine = ++asked;
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    sentimentPanel.dataset.state = nextPanel.dataset.state = "busy";
    sentimentPanel.setAttribute("aria-busy", "true");
    nextPanel.setAttribute("aria-busy", "true");

    let bandValue = null;
    const errors = [];
    try {
      bandValue = neutralBand();
    } catch (err) {
      errors.push(err.message);
    }
    const sentiment = bandValue === null
      ? Promise.reject(new Error("not asked"))
      : askSentiment(text, bandValue, controller.signal);
    const next = post("v1/predict-next", {texts: [text]}, controller.signal);
    const [s, n] = await Promise.allSettled([sentiment, next]);
    if (mine !== asked) return; // a newer update owns the page

    for (const [outcome, panel, show, what] of [
      [s, sentimentPanel, (r) => showSentiment(r, text), "sentiment"],
      [n, nextPanel, showSuggestions, "next words"],
    ]) {
      let failed = outcome.status === "rejected" ? outcome.reason : null;
      if (!failed) {
        try {
          show(firstResult(outcome.value));
        } catch (err) {
          failed = err;
        }
      }
      if (failed) {
        if (panel === sentimentPanel) clearSentiment();
        else suggestions.replaceChildren();
        if (failed.message !== "not asked") errors.push(`${what}: ${failed.message}`);
      }
      panel.dataset.state = failed ? "error" : "ready";
      panel.dataset.text = text; // the text the panel now shows results for
      panel.removeAttribute("aria-busy");
    }
    showError(errors);
    if (inFlight === controller) inFlight = null;
    const wait = Math.max(...[s, n].map((o) => (o.status === "rejected" ? o.reason.retryAfter : NaN) || 0));
    if (wait > 0) schedule(1000 * Math.min(wait, 30)); // busy: ask again (a keystroke asks sooner)
  }

  // Append a suggestion: the server's tokens are exactly what to add (a next word, or the rest of the word
  // being typed), so no space is inserted.
  function append(token) {
    const end = textBox.value.length;
    textBox.focus();
    textBox.setRangeText(token, end, end, "end");
    schedule(0);
  }

  // -- events ------------------------------------------------------------------------------------------------

  textBox.addEventListener("compositionstart", () => {
    composing = true;
    clearTimeout(timer);
  });
  textBox.addEventListener("compositionend", () => {
    composing = false;
    schedule();
  });
  textBox.addEventListener("input", (event) => {
    if (composing || event.isComposing) return;
    schedule();
  });
  band.addEventListener("input", () => schedule());
  suggestions.addEventListener("click", (event) => {
    const button = event.target.closest("button.suggestion");
    if (button) append(button.dataset.token);
  });

  update(); // the first words a text may start with (and the label of any text the browser restored)
})();
