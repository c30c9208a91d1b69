/// @file
/// The one header that chooses which LibTorch headers radiossl uses.
///
/// Note: parsing LibTorch costs 10-15 s per translation unit; listing the narrow set here (never
/// `torch/torch.h`) keeps users' own translation units cheaper, and gives the shared precompiled
/// header one place to start from. Append a header here when a new part of the library needs it.
#pragma once

#include <torch/types.h>
#include <torch/utils.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/functional.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/sgd.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/modules/transformercoder.h>
#include <caffe2/serialize/inline_container.h>
