"""The Copernicus Data Space Ecosystem (CDSE) as a source, one module per concern.

Standard library HTTP (``http.client``), so redirects and the ``Authorization`` header
are handled here, not by a library. Service facts: the CDSE documentation
(https://documentation.dataspace.copernicus.eu/APIs/OData.html, .../APIs/S3.html,
.../APIs/Token.html).

* :mod:`~eotrend.sources.cdse.settings` - the ``source.cdse`` config block and the URLs.
* :mod:`~eotrend.sources.cdse.http` - one request with redirects followed by hand (the
  token only to the configured hosts and their siblings), error bodies, ``Retry-After``,
  back-off and retries.
* :mod:`~eotrend.sources.cdse.catalogue` - the OData search (per year, split further
  where the catalogue cut a window at its paging limit, one side of the antimeridian at a
  time) and one product per sensing period
  (:func:`~eotrend.sources.cdse.catalogue.select`).
* :mod:`~eotrend.sources.cdse.tokens` - one Keycloak login per run, refreshed before
  expiry, served to worker processes over a local socket.
* :mod:`~eotrend.sources.cdse.cache` - the product cache: where a product lives, what is
  wrong with a folder (sizes and MD5s of its own ``xfdumanifest.xml``), locks, safe unzip.
* :mod:`~eotrend.sources.cdse.jobs` - what a transfer is given and what becomes of it.
* :mod:`~eotrend.sources.cdse.resumable` - one resumable GET and the token-taking retry
  loop.
* :mod:`~eotrend.sources.cdse.zips` - whole-zip downloads (``Products(<Id>)/$value``).
* :mod:`~eotrend.sources.cdse.perfile` - per-file fetching of one product, whatever the
  store: manifest first, each needed file verified and renamed into the cache.
* :mod:`~eotrend.sources.cdse.nodes` - the OData Nodes API (``fetch: files``).
* :mod:`~eotrend.sources.cdse.s3` - the object store (``fetch: s3_files``, and the
  manifest-only ``s3_windows``, whose windows :mod:`eotrend.sentinel3.remote` reads).
* :mod:`~eotrend.sources.cdse.transfer` - the run's downloads on the shared engine, each
  product dispatched to its fetch mode.
* :mod:`~eotrend.sources.cdse.source` - the cdse source: search, select, fetch, entries.
* :mod:`~eotrend.sources.cdse.plan` - the download plan: what each fetch mode would move,
  from the catalogue alone.
"""
