"""The crash dashboard: one labelled issue that ranks the open crashes, their trends and their fixes.

``verify`` (is a deployed fix proven: Poisson maths), ``uptime`` (how long each build was live on each
realm, from GitHub Deployments), ``model`` (one row per signature, its state, the loop's figures) and
``render`` (the Markdown) are pure; ``sync`` reads GitHub and writes. The history they read lives in the
signed payload (:class:`bot.payload.Occurrences`), the sparkline in :mod:`bot.markdown`.
"""
