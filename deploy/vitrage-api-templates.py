#!/usr/bin/python3
"""Lists the templates our vitrage-graph's evaluator loaded in a database
upstream's vitrage-api reads (`vitrage template list` / `show` read the
`templates` table, they make no RPC call).

    vitrage-api-templates.py DB_FILE TEMPLATES_DIR GRAPH_STATUS_JSON

DB_FILE: a SQLite file (vitrage-api's [database] connection =
sqlite:///DB_FILE), created with upstream's schema. Every *.yaml / *.yml
file of TEMPLATES_DIR (the graph's [graph] templates_dir) becomes a row:
status ACTIVE, or ERROR with the graph's reason when `vitrage-ctl status`
(GRAPH_STATUS_JSON) lists the file among the evaluator's rejected
templates. The uuid is derived from the template's name, so it is stable.
"""
import datetime
import json
import os
import sys
import uuid

from oslo_config import cfg
from oslo_db import options as db_options
import yaml

from vitrage.storage import impl_sqlalchemy
from vitrage.storage.sqlalchemy import models


def find_key(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def main():
    db_file, tdir, status_file = sys.argv[1:4]
    try:
        with open(status_file) as f:
            status = json.load(f)
    except (OSError, ValueError):
        status = {}
    errors = find_key(status, 'template_errors') or find_key(
        status, 'templateErrors') or []
    db_options.set_defaults(cfg.CONF)
    cfg.CONF([], project='vitrage')
    db = impl_sqlalchemy.Connection('sqlite:///%s' % db_file)
    models.Base.metadata.create_all(db._engine_facade.get_engine())
    session = db._engine_facade.get_session()
    names = sorted(os.listdir(tdir)) if tdir and os.path.isdir(tdir) else []
    now = datetime.datetime.utcnow().replace(microsecond=0)
    for fname in names:
        if not fname.endswith(('.yaml', '.yml')):
            continue
        path = os.path.join(tdir, fname)
        with open(path) as f:
            try:
                content = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                content = {'error': str(e)}
        meta = content.get('metadata', {}) if isinstance(content, dict) else {}
        name = meta.get('name') or fname
        err = [e for e in errors if e.startswith(path + ':') or
               e.startswith(fname + ':')]
        session.merge(models.Template(
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, 'vitrage-graph/' + name)),
            status='ERROR' if err else 'ACTIVE',
            status_details=(err[0][:128] if err else
                            'Template validation is OK'),
            name=name, file_content=content,
            template_type=meta.get('type', 'standard'),
            created_at=now))
        session.flush()
    print('templates: %d listed in %s' % (len(names), db_file))


if __name__ == '__main__':
    main()
