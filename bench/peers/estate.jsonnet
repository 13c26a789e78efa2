// The estate benchmark's 1,000 apps × 10 environments (top-level arguments apps, envs) as a
// Jsonnet program: one file of Applications (one per static cluster) and one Kustomize overlay
// per app × environment, the same documents `setlist compile` writes for bench/estate.py's
// spec. The result maps each output path to its list of documents; bench/estate_peers.py
// writes each as YAML (std.manifestYamlStream took minutes for 1,000 documents here).
function(apps=1000, envs=10)
  local envNames = ['dev', 'test', 'qa', 'staging', 'preprod', 'prod-eu', 'prod-us', 'prod-ap',
                    'canary', 'perf'];
  local envList = [
    if e < std.length(envNames) then envNames[e] else 'env-' + e
    for e in std.range(0, envs - 1)
  ];
  local hosts = ['ghcr.io', 'registry.example.com:5000',
                 '123456789012.dkr.ecr.eu-west-1.amazonaws.com'];
  local repo = 'https://github.com/example-org/platform-gitops.git';
  local automated(prune) = {
    automated: { prune: prune, selfHeal: true },
    syncOptions: ['CreateNamespace=true'],
  };
  local syncs = [
    automated(true),
    automated(true) {
      retry: { limit: 5, backoff: { duration: '5s', factor: 2, maxDuration: '3m' } },
    },
    automated(false),
    { syncOptions: ['CreateNamespace=true'] },
  ];
  local application(app, team, env, cluster, tier, policy) = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: {
      name: app + '-' + env + '.' + cluster,
      namespace: 'argocd',
      labels: {
        'app.kubernetes.io/managed-by': 'setlist',
        'setlist.dev/app': app,
        'setlist.dev/cluster': cluster,
        'setlist.dev/env': env,
        stage: env,
        team: team,
        tier: tier,
      },
      finalizers: ['resources-finalizer.argocd.argoproj.io'],
    },
    spec: {
      project: team,
      source: {
        repoURL: repo,
        targetRevision: 'main',
        path: 'apps/' + app + '/overlays/' + env,
      },
      destination: { name: cluster, namespace: app },
      syncPolicy: policy,
    },
  };
  // String concatenation rather than std.format (%), which is slow in C++ Jsonnet 0.22
  // (10 apps × 10 environments: 12 s with %, 0.4 s without, on the benchmark machine).
  local pad(n, width) = local s = '' + n; std.repeat('0', width - std.length(s)) + s;
  local files(a, env) =
    local app = 'svc-' + pad(a, 4);
    local team = 'team-' + pad(a % 37, 2);
    local tier = if std.startsWith(env, 'prod') then 'production' else 'pre';
    [
      ['argocd/applications/' + app + '-' + env + '.yaml',
       [
         application(app, team, env, env + '-' + c, tier, syncs[a % 4])
         for c in ['a', 'b', 'c']
       ]],
      ['apps/' + app + '/overlays/' + env + '/kustomization.yaml',
       [{
         apiVersion: 'kustomize.config.k8s.io/v1beta1',
         kind: 'Kustomization',
         resources: ['../../base'],
         images: [{ name: hosts[a % 3] + '/' + team + '/' + app,
                    newTag: '1.' + (a % 30) + '.' + (a % 7) }],
       }]],
    ];
  {
    [entry[0]]: entry[1]
    for entry in std.flattenArrays([files(a, env) for a in std.range(0, apps - 1)
                                     for env in envList])
  }
