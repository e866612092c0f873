#!/usr/bin/python3
"""vitrage_api_test's two halves (see vitrage_api_test.sh).

    vitrage_api_check.py topology            # prints the test cloud (JSONL)
    vitrage_api_check.py check ENV_FILE CTL GRAPH_ADDR

`check` runs the real `vitrage` CLI (python3-vitrageclient, noauth, against
upstream's vitrage-api in front of our graph) and compares each answer with
the graph's own gRPC view (`vitrage-ctl export`): same vertices, edges,
alarms and properties. Exits non-zero naming every difference.
"""
import json
import os
import subprocess
import sys

TS = '2026-12-01T10:00:00Z'


def topology():
    lines = []

    def v(vid, cat, typ, **p):
        props = {'vitrage_id': vid, 'id': vid + '-id', 'name': vid,
                 'vitrage_category': cat, 'vitrage_type': typ,
                 'vitrage_is_deleted': False, 'vitrage_is_placeholder': False,
                 'state': 'ACTIVE', 'update_timestamp': TS,
                 'vitrage_sample_timestamp': TS}
        props.update(p)
        lines.append({'id': vid, 'props': props})

    def e(s, t, label):
        lines.append({'source': s, 'target': t, 'label': label,
                      'props': {'relationship_type': label,
                                'vitrage_is_deleted': False,
                                'update_timestamp': TS}})
    v('cluster', 'RESOURCE', 'openstack.cluster', id='OpenStack Cluster')
    v('zone', 'RESOURCE', 'nova.zone')
    for h in ('host1', 'host2'):
        v(h, 'RESOURCE', 'nova.host')
    for i, (h, proj) in enumerate([('host1', 'p1'), ('host1', 'p2'),
                                   ('host1', 'p1'), ('host2', 'p2')]):
        v('inst%d' % i, 'RESOURCE', 'nova.instance', project_id=proj)
    v('net', 'RESOURCE', 'neutron.network', project_id='p1')
    v('hostdown', 'ALARM', 'zabbix', name='host down', severity='DISASTER',
      vitrage_operational_severity='CRITICAL',
      vitrage_aggregated_severity='DISASTER', vitrage_resource_id='host1',
      vitrage_resource_type='nova.host', rawtext='host down')
    v('cpu', 'ALARM', 'zabbix', name='cpu high', severity='WARNING',
      vitrage_operational_severity='WARNING',
      vitrage_aggregated_severity='WARNING', vitrage_resource_id='host2',
      vitrage_resource_type='nova.host', rawtext='cpu high')
    v('memory', 'ALARM', 'aodh', name='memory low', severity='warning',
      project_id='p1', vitrage_operational_severity='WARNING',
      vitrage_aggregated_severity='WARNING', vitrage_resource_id='inst0',
      vitrage_resource_type='nova.instance', vitrage_resource_project_id='p1')
    vertices = [x for x in lines]
    lines = []
    e('cluster', 'zone', 'contains')
    e('zone', 'host1', 'contains')
    e('zone', 'host2', 'contains')
    e('host1', 'inst0', 'contains')
    e('host1', 'inst1', 'contains')
    e('host1', 'inst2', 'contains')
    e('host2', 'inst3', 'contains')
    e('hostdown', 'host1', 'on')
    e('cpu', 'host2', 'on')
    e('memory', 'inst0', 'on')
    for x in vertices + lines:
        print(json.dumps(x))


class Checker:
    def __init__(self, env_file, ctl, graph):
        self.env = dict(os.environ)
        with open(env_file) as f:
            for line in f:
                for word in line.replace('export', '').split():
                    k, _, val = word.partition('=')
                    self.env[k] = val
        out = subprocess.run([ctl, '--graph', graph, 'export'], check=True,
                             capture_output=True, text=True).stdout
        self.v, self.e = {}, []
        for line in out.splitlines():
            o = json.loads(line)
            if 'source' in o:
                self.e.append(o)
            else:
                self.v[o['id']] = o['props']
        self.failures = []
        self.passed = 0

    def cli(self, *args, project=None, fails=False):
        env = dict(self.env)
        if project:
            env['VITRAGE_PROJECT_ID'] = project
        r = subprocess.run(['vitrage'] + list(args), env=env,
                           capture_output=True, text=True, timeout=120)
        if fails:
            return r.returncode != 0 and '404' in r.stderr
        if r.returncode != 0:
            raise RuntimeError('vitrage %s: exit %d: %s' % (
                ' '.join(args), r.returncode, r.stderr.strip()[-500:]))
        return json.loads(r.stdout)

    def expect(self, what, ok, detail=''):
        if ok:
            self.passed += 1
            print('ok    %s' % what)
        else:
            self.failures.append(what)
            print('FAIL  %s %s' % (what, detail))

    def live(self, p):
        return not p.get('vitrage_is_deleted') and not p.get(
            'vitrage_is_placeholder')

    def run(self):
        live = {k: p for k, p in self.v.items() if self.live(p)}
        resources = {k for k, p in live.items()
                     if p['vitrage_category'] == 'RESOURCE'}
        alarms = {k for k, p in live.items()
                  if p['vitrage_category'] == 'ALARM'}
        deduced = {k for k in alarms if live[k]['vitrage_type'] == 'vitrage'}
        self.expect('the evaluator raised deduced alarms (graph view)',
                    len(deduced) >= 3, sorted(deduced))
        live_edges = {(x['source'], x['target'], x['label'])
                      for x in self.e
                      if not x['props'].get('vitrage_is_deleted') and
                      x['source'] in live and x['target'] in live}

        # topology show, graph type, all tenants
        g = self.cli('topology', 'show', '--all-tenants')
        ids = [n['vitrage_id'] for n in g['nodes']]
        links = {(ids[x['source']], ids[x['target']], x['key'])
                 for x in g['links']}
        self.expect('topology show --all-tenants: vertices',
                    set(ids) == resources | alarms,
                    sorted(set(ids) ^ (resources | alarms)))
        self.expect('topology show --all-tenants: edges', links == live_edges,
                    sorted(links ^ live_edges))
        self.expect('topology show --all-tenants: properties',
                    all({k: val for k, val in n.items()
                         if k not in ('id', 'graph_index')} ==
                        {k: val for k, val in live[n['vitrage_id']].items()
                         if k != 'id'} for n in g['nodes']))
        # topology show for project p1 (not all tenants): its instances
        # and the path to them, not p2's
        g = self.cli('topology', 'show', project='p1')
        ids = {n['vitrage_id'] for n in g['nodes']}
        p1 = {k for k in resources if live[k].get('project_id') == 'p1'}
        p2 = {k for k in resources if live[k].get('project_id') == 'p2'}
        self.expect('topology show (project p1): its instances, the path to '
                    "them, no p2 instance",
                    p1 <= ids and not ids & p2 and
                    {'cluster', 'zone', 'host1'} <= ids and
                    ids <= resources | alarms, sorted(ids))
        # tree
        # As Horizon asks for it (upstream refuses a tree without a filter).
        tree_query = {'and': [
            {'==': {'vitrage_category': 'RESOURCE'}},
            {'==': {'vitrage_is_deleted': False}},
            {'==': {'vitrage_is_placeholder': False}},
            {'or': [{'==': {'vitrage_type': t}} for t in (
                'openstack.cluster', 'nova.zone', 'nova.host',
                'nova.instance')]}]}
        t = self.cli('topology', 'show', '--graph-type', 'tree',
                     '--all-tenants', '--filter', json.dumps(tree_query))
        seen = set()

        def walk(n):
            seen.add(n['vitrage_id'])
            for c in n.get('children', []):
                walk(c)
        walk(t)
        tree_types = ('openstack.cluster', 'nova.zone', 'nova.host',
                      'nova.instance')
        want = {k for k in resources if live[k]['vitrage_type'] in tree_types}
        self.expect('topology show --graph-type tree: the compute tree',
                    seen == want, sorted(seen ^ want))
        # resources
        rl = self.cli('resource', 'list', '--all-tenants', '-f', 'json')
        got = {r.get('ID') or r.get('vitrage_id') for r in rl}
        self.expect('resource list --all-tenants', got == resources,
                    sorted(got ^ resources))
        # The noauth client is never admin (vitrage-api takes is_admin from
        # X-User-Name): a project sees its own resources and alarms only.
        rs = self.cli('resource', 'show', 'inst0', '-f', 'json', project='p1')
        self.expect('resource show inst0 (project p1): the vertex properties',
                    rs == live['inst0'], (rs, live['inst0']))
        self.expect("resource show inst1 (project p1): p2's instance is "
                    'not found', self.cli('resource', 'show', 'inst1',
                                          project='p1', fails=True))
        rc = self.cli('resource', 'count', '--all-tenants')
        want = {}
        for k in resources:
            want[live[k]['vitrage_type']] = want.get(
                live[k]['vitrage_type'], 0) + 1
        self.expect('resource count --all-tenants', rc == want, (rc, want))
        # alarms
        al = self.cli('alarm', 'list', '--all-tenants', '-f', 'json')
        got = {a.get('ID') or a.get('vitrage_id') for a in al}
        self.expect('alarm list --all-tenants: datasource and deduced alarms',
                    got == alarms, sorted(got ^ alarms))
        ash = self.cli('alarm', 'show', 'memory', '-f', 'json', project='p1')
        self.expect('alarm show memory (project p1): the vertex properties',
                    ash == live['memory'], (ash, live['memory']))
        self.expect('alarm show memory (project p2): not found',
                    self.cli('alarm', 'show', 'memory', project='p2',
                             fails=True))
        ac = self.cli('alarm', 'count', '--all-tenants')
        want = {s: 0 for s in ('SEVERE', 'CRITICAL', 'WARNING', 'OK', 'N/A')}
        for k in alarms:
            s = live[k].get('vitrage_operational_severity')
            if s in want:
                want[s] += 1
        self.expect('alarm count --all-tenants', ac == want, (ac, want))
        # rca of the host-down alarm: it causes the deduced alarms
        r = self.cli('rca', 'show', 'hostdown', '--all-tenants')
        ids = [n['vitrage_id'] for n in r['nodes']]
        causes = {(x['source'], x['target']) for x in self.e
                  if x['label'] == 'causes' and
                  not x['props'].get('vitrage_is_deleted')}
        want_nodes = {'hostdown'} | {t for s, t in causes if s == 'hostdown'}
        got_links = {(ids[x['source']], ids[x['target']]) for x in r['links']}
        self.expect('rca show hostdown: the alarm and what it causes',
                    set(ids) == want_nodes and len(want_nodes) > 1,
                    sorted(set(ids) ^ want_nodes))
        self.expect('rca show hostdown: the causes edges',
                    got_links == {(s, t) for s, t in causes
                                  if s == 'hostdown'}, sorted(got_links))
        self.expect('rca show hostdown: inspected_index is the alarm',
                    ids and ids[r['inspected_index']] == 'hostdown')
        # templates
        tl = self.cli('template', 'list', '-f', 'json')
        names = {x.get('Name') or x.get('name'): x.get('Status') or
                 x.get('status') for x in tl}
        self.expect('template list: the evaluator\'s templates',
                    names.get('host_down_v2') == 'ACTIVE' and
                    'host_cpu_v3' in names, tl)
        print('vitrage_api_check: %d checks passed, %d failed' % (
            self.passed, len(self.failures)))
        return 1 if self.failures else 0


def main():
    if sys.argv[1] == 'topology':
        topology()
        return 0
    return Checker(*sys.argv[2:5]).run()


if __name__ == '__main__':
    sys.exit(main())
