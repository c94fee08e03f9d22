"""Request validation that names the offending field and says what was expected.

Connexion's stock validators echo the whole body and ignore the ``oneOf`` discriminator. The
validators here plug into Connexion's ``validator_map`` instead. One module per step:

* :mod:`.strict_json` reads the body: UTF-8 JSON with no duplicate keys, NaN or hostile nesting;
* :mod:`.schemas` picks the ``oneOf`` branch by ``model`` and validates with ``jsonschema_rs``
  (compiled once per schema object, not per request), then the branch's cross-field rules;
* :mod:`.rules` holds those cross-field rules, the ones OpenAPI 3.0 cannot state;
* :mod:`.messages` turns the most relevant ``jsonschema_rs`` error into the vendor envelope;
* :mod:`.adapters` are the Connexion body and parameter validator classes built on the above.
"""
