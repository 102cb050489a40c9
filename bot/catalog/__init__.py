"""The product catalog: ``reader`` runs read-only, guarded SQL on it; ``sqlguard`` accepts only
known-good SELECTs; ``sqlfunctions`` and ``textfold`` are the functions and accent folding the
SQL may use; ``money`` reads and writes the amounts in soles its price columns hold. ``importer``
(``kratos import``) turns a store's product file into a catalog, ``roles`` finds which column
holds the name, the price, the brand..., ``seed`` (with ``seed_data``) builds the demo catalog,
and ``progress`` shows how far such a long job has got.
"""
