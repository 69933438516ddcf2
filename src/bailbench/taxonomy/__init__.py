"""Taxonomy of bail situations (paper §2.3.3), built the way Clio builds one.

Each bail case is summarised by a model, the summaries are embedded and clustered with
k-means, each cluster is named from its members against its nearest outsiders, and the
names are grouped level by level into parents. Every model call and every embedding is
cached in `OUT/taxonomy.sqlite`, so a rerun recomputes nothing.

Modules, one job each: cases (bail cases out of run stores), store (the cache), summarize,
embed, cluster, naming, hierarchy, output (taxonomy.json / .md), validate (the dataset
check with NMI and ARI), pipeline (the order of the steps), command (the CLI).
"""
