# The wine classifier's handler, exactly as AWS documents scripts for its scikit-learn
# container: model_fn loads the estimator, predict_fn calls it. There is no input_fn or
# output_fn: the default codecs decode the request (CSV rows, a JSON list of rows, JSON
# Lines or .npy) into a 2-D numpy array and encode the predicted classes in the type the
# Accept header asks for.
import os

import joblib


def model_fn(model_dir):
    """Deserialize and return the fitted model."""
    clf = joblib.load(os.path.join(model_dir, "model.joblib"))
    return clf


def predict_fn(input_data, model):
    return model.predict(input_data)
