"""Custom task types: small classification heads trained on the musicnn embeddings.

``tonearm heads train DATA_DIR`` turns a folder of example tracks, one sub-folder per label
(``DATA_DIR/<label>/*.wav``), into a new task type that the SAMI route and the tagging workflow answer
like a builtin one (``task_type: <name>``).

Features
    Every track is decoded and run through both musicnn models (:func:`tonearm.tagging.tagger.tag_signal`);
    a patch (3 s) is described by the concatenation of the two models' 200-d embeddings, MSD_musicnn
    first (400-d in all). At run time a track is described by the mean of its patch rows over musicnn's
    whole patches (``TagScores.track_mean``: the tail patch is left out), a segment by its patch's row.
Model
    Multinomial logistic regression on standardised features, L2-regularised, fitted with L-BFGS
    (scipy). Training rows are the patches of every training file and the file's mean row, weighted so
    that every file weighs the same within its label and every label weighs the same (an unbalanced
    folder does not tilt the head towards its biggest label).
Evaluation
    Files, not patches, are held out (patches of one track look alike, so a patch split would measure
    memory): a seeded, stratified ``test_fraction`` of every label's files (at least one, and at least
    one left to train on). The held-out accuracy is file-level, predicted from the file's mean row, as
    the runtime predicts a track. The exported head is the evaluated one, so the accuracy in
    ``head.json`` describes exactly the file that answers requests.
Export
    ONNX (opset 17, IR 8): input ``embedding`` float32 ``[N, D]`` -> ``Sub(mean)`` -> ``Div(std)`` ->
    ``MatMul(W)`` -> ``Add(b)`` -> ``Softmax`` -> output ``probabilities`` float32 ``[N, K]``.
    ``onnx`` is a training-time dependency only (``pip install tonearm[train]``); onnxruntime runs it.

Storage: the heads folder is ``$TONEARM_HEADS_DIR`` if set, else ``heads/`` in the models folder
(:func:`tonearm.models.registry.models_dir`). A head is ``<heads>/<Name>/head.onnx`` and
``<heads>/<Name>/head.json`` (:class:`~tonearm.tagging.heads.lookup.HeadManifest`); the file's sha256 is
checked when the head is loaded, and a damaged head is refused with
:class:`~tonearm.tagging.heads.lookup.HeadUnavailableError` (HTTP 503, like a damaged builtin model).
Names match ``^[A-Za-z][A-Za-z0-9_]{0,63}$`` and may not clash, ignoring case, with a builtin task type.

Modules, one job each:

- :mod:`~tonearm.tagging.heads.lookup`: the installed heads at run time (folder, names, manifest,
  loading and predicting);
- :mod:`~tonearm.tagging.heads.logistic`: the logistic regression itself, fitted and evaluated in numpy;
- :mod:`~tonearm.tagging.heads.onnx_export`: a fitted head as an ONNX graph;
- :mod:`~tonearm.tagging.heads.train`: from a folder of labelled audio to an evaluated, installed head.

This package's ``__init__`` imports nothing, so importing the lookup module stays as light as it is.
"""
