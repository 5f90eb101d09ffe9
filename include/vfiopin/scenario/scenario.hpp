// SPDX-License-Identifier: Apache-2.0
//
// vfiopin/scenario/scenario.hpp: umbrella header of the scenario machinery.
//
// Theory of operation. Scenario scripts (docs: scenario-format.md) drive a VFIO type1
// container from plain text, so one file runs on the mock and on the real backend and the
// two outputs can be diffed. The pieces, in the order data flows through them:
//   lexer.hpp        tokens, numbers with K/M/G suffixes, names
//   syntax.hpp       the keyword table: usage, argument counts, container operations
//   parser.hpp       text -> script (ast.hpp), or `FILE:LINE: message`
//   target.hpp       the interface a backend implements, one function per operation
//   outcome.hpp      what an operation returns, and its exact result line
//   errno_names.hpp  Linux errno numbers <-> symbols for `err NAME`
//   runner.hpp       runs a script on a target: --echo, --check, skip propagation
#ifndef VFIOPIN_SCENARIO_SCENARIO_HPP
#define VFIOPIN_SCENARIO_SCENARIO_HPP

#include <vfiopin/scenario/ast.hpp>
#include <vfiopin/scenario/errno_names.hpp>
#include <vfiopin/scenario/lexer.hpp>
#include <vfiopin/scenario/outcome.hpp>
#include <vfiopin/scenario/parser.hpp>
#include <vfiopin/scenario/runner.hpp>
#include <vfiopin/scenario/syntax.hpp>
#include <vfiopin/scenario/target.hpp>

#endif  // VFIOPIN_SCENARIO_SCENARIO_HPP
