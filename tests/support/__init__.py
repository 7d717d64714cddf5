"""Helpers shared by the tests (no tests here): ``from support.scenes import small_scene``.

A package, so that its modules cannot clash with the rule scripts of ``scripts/`` (both
folders are on the tests' path: ``scripts/scenes.py`` is a rule, ``support.scenes`` these
helpers). Test modules import from here, never from one another.

* :mod:`support.commands`: the repository's paths, commands run as a user would, snakemake;
* :mod:`support.configs`: the base configs of ``tests/configs/*.yaml``;
* :mod:`support.scenes`: small synthetic OLCI scenes and AOI files;
* :mod:`support.stages`: ``python -m eotrend <stage>`` runs, the one error line a user sees;
* :mod:`support.compare`: outputs of two runs compared (rasters, tables, folders);
* :mod:`support.fake_cdse`: a loopback Copernicus Data Space (catalogue, tokens, download);
* :mod:`support.cdse`: checks and configs of the CDSE client tests over that service;
* :mod:`support.local_s3`: a real S3 server on loopback (moto), in a child process;
* :mod:`support.browser`: headless Chromium (console errors, screenshots);
* :mod:`support.pool_tasks`, :mod:`support.fault_tasks`: task functions that pool workers
  import by name;
* :mod:`support.worker_killer`: SIGKILL of a command's pool workers from outside;
* :mod:`support.oracles`: per-pixel reference statistics (scipy, direct loops).
"""
