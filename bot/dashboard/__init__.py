"""The crash dashboard: one labelled issue that ranks the open crashes, their trends and their fixes.

``trend`` (sparklines, per-day series), ``verify`` (is a deployed fix proven: Poisson maths), ``uptime``
(how long each build was live on each realm, from GitHub Deployments), ``model`` (one row per signature)
and ``render`` (the Markdown) are pure; ``sync`` reads GitHub and writes the one issue.
"""
