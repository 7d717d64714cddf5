"""Downloads from the Copernicus Data Space Ecosystem (CDSE), one module per concern.

Facts from reference/cdse-api.md (cited as §N). Standard library HTTP (``http.client``),
so redirects and the ``Authorization`` header are handled here, not by a library.

* :mod:`~eotrend.download.settings` - the ``source.cdse`` config block and the service URLs.
* :mod:`~eotrend.download.http` - one request with redirects followed by hand (the token
  only to the configured hosts and their siblings), error bodies, ``Retry-After``,
  back-off and retries.
* :mod:`~eotrend.download.catalogue` - the OData search (§2, §3: per year, split further
  at the ``$skip`` 10,000 limit, one side of the antimeridian at a time) and
  :func:`~eotrend.download.catalogue.select`, one product per sensing period (§4).
* :mod:`~eotrend.download.tokens` - one Keycloak login per run (§5, §8), refreshed before
  expiry, served to worker processes over a local socket.
* :mod:`~eotrend.download.cache` - the product cache: where a product lives, what is
  wrong with a folder (sizes and MD5s of its own ``xfdumanifest.xml``), locks, safe unzip.
* :mod:`~eotrend.download.transfer` - whole-zip downloads (``Products(<Id>)/$value``) with
  ``Range`` resume and verification, run on the shared engine.
* :mod:`~eotrend.download.contents` - what a product's ``xfdumanifest.xml`` lists (files,
  sizes, MD5s) and which of its files a dataset needs.
* :mod:`~eotrend.download.perfile` - per-file fetching of one product, whatever the store:
  manifest first, each needed file verified and renamed into the cache (``fetch: files``,
  ``s3_files``).
* :mod:`~eotrend.download.nodes` - the OData Nodes API (file listings, one file's
  ``$value``).
* :mod:`~eotrend.download.s3` - the CDSE object store (``fetch: s3_files``, and the
  manifest-only ``s3_windows``, whose windows :mod:`eotrend.remote` reads).
"""
