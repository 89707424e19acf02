"""PBN (P23): "A Practical Approach to Novel Class Discovery in Tabular Data" (Troisemaine, Reiffers-Masson,
Gosselin, Lemaire, Vaton; Data Mining and Knowledge Discovery).

A `transformers` Projection-Based Network (encoder, decoder, known-class classifier), its training loop and
`Trainer`, the k-fold hidden-class hyper-parameter search, NCD k-means and the silhouette estimate of the number of
novel classes. Exports are lazy.
"""

from hf_methods.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PBNConfig": ".configuration_pbn",
        "PBNForNovelClassDiscovery": ".modeling_pbn",
        "PBNOutput": ".modeling_pbn",
        "PBNPreTrainedModel": ".modeling_pbn",
        "pbn_loss": ".modeling_pbn",
        "discover_novel_classes": ".discovery",
        "estimate_num_novel_classes": ".discovery",
        "known_class_centroids": ".discovery",
        "ncd_kmeans": ".discovery",
        "NCDSplit": ".training",
        "PBNArguments": ".training",
        "PBNTrainer": ".training",
        "digits_ncd": ".training",
        "fit_pbn": ".training",
        "mixed_tensors": ".training",
        "ncd_kfold_hparam_search": ".training",
        "ncd_split": ".training",
        "train_and_discover": ".training",
    },
)
