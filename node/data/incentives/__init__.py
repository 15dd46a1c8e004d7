"""The 信易+ incentive catalogues of the member cities, one JSON file a city."""
